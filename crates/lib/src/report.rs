//! The forms of a plan, written as the plan goes: coloured text for a terminal, JSON for
//! machines, markdown for a pull request comment.
//!
//! A report is a [`Header`], then one [`TenantPlan`] at a time, then the [`Summary`]; no form
//! holds the whole fleet's changes in memory, except markdown, which is bounded by a budget
//! because a pull request comment is.

mod html;

use std::io::{self, Write};

use console::style;
use serde_json::Value;

use crate::patch::three_way::{Change, ChangeKind, Reason};
use crate::plan::{Counts, Header, Outcome, Status, Summary, TenantPlan};

pub use html::Html;

/// Where a plan is written, tenant by tenant.
pub trait Sink {
    fn begin(&mut self, header: &Header) -> io::Result<()>;
    fn tenant(&mut self, plan: &TenantPlan) -> io::Result<()>;
    fn end(&mut self, summary: &Summary) -> io::Result<()>;
}

/// Longest value shown inline; longer ones are cut with "…".
const MAX_VALUE: usize = 160;

fn counts_text(c: Counts) -> String {
    format!(
        "{} to add, {} to change, {} to remove",
        c.add, c.replace, c.remove
    )
}

/// A value as text and markdown reports show it: compact JSON (which escapes control
/// characters), with the characters JSON leaves as they are but a terminal or a CI log reads
/// (bidirectional controls, line separators, `##[`) escaped too, cut at [`MAX_VALUE`].
pub(crate) fn value_text(v: &Value) -> String {
    let s = serde_json::to_string(v).unwrap_or_default();
    crate::diagnostic::one_line_unscrubbed(&s, MAX_VALUE)
}

fn reason_text(r: Reason) -> &'static str {
    match r {
        Reason::Desired => "",
        Reason::Drift => " (drift: restores the repository's value)",
        Reason::Conflict => " (conflict: repository wins)",
    }
}

/// A JSON pointer as text and markdown reports show it: its keys come from templates and the
/// platform, so new lines, control characters and CI commands in them are escaped (a key
/// cannot end a line, a code block or a log line early).
pub fn path_text(p: &str) -> String {
    crate::diagnostic::pointer_text(p)
}

fn summary_text(s: &Summary) -> String {
    format!(
        "{} tenant(s): {} with changes ({}), {} unchanged, {} error(s){}",
        s.tenants,
        s.with_changes,
        counts_text(s.changes),
        s.unchanged,
        s.errors,
        if s.conflicts > 0 {
            format!(", {} conflict(s)", s.conflicts)
        } else {
            String::new()
        }
    ) + &if s.partly_applied > 0 {
        format!(", {} partly applied", s.partly_applied)
    } else {
        String::new()
    }
}

/// Coloured text (colours follow the process-wide setting): per tenant with changes or errors a
/// heading and its changes; unchanged tenants are counted, and listed only when `verbose`.
pub struct Text<W: Write> {
    pub out: W,
    pub verbose: bool,
}

impl<W: Write> Sink for Text<W> {
    fn begin(&mut self, h: &Header) -> io::Result<()> {
        match &h.action {
            Some(action) => writeln!(
                self.out,
                "{} to {} (mode {})",
                capitalize(action),
                style(&h.env).bold(),
                h.mode.as_str()
            ),
            None => writeln!(
                self.out,
                "Plan for {} against {} (mode {})",
                style(&h.env).bold(),
                h.against,
                h.mode.as_str()
            ),
        }?;
        for line in h.policy_lines() {
            writeln!(self.out, "{line}")?;
        }
        writeln!(self.out)
    }

    fn tenant(&mut self, t: &TenantPlan) -> io::Result<()> {
        if !self.verbose && !worth_detailing(t) {
            return Ok(());
        }
        let name = style(format!("{} ({})", t.key, t.id)).bold();
        let name = match t.outcome {
            Some(Outcome::Applied) => format!("{name}: {}", style("applied").green()),
            Some(Outcome::DryRun) => format!("{name}: {}", style("accepted (dry run)").cyan()),
            Some(Outcome::Failed) => format!("{name}: {}", style("failed").red().bold()),
            Some(Outcome::PartlyApplied) => {
                format!("{name}: {}", style("partly applied").red().bold())
            }
            Some(Outcome::Unchanged) | None => name.to_string(),
        };
        if t.status == Status::Error && t.outcome == Some(Outcome::Failed) {
            writeln!(self.out, "{name}")?;
            if t.counts != Counts::default() {
                writeln!(self.out, "  planned: {}", counts_text(t.counts))?;
            }
        } else {
            match t.status {
                Status::Unchanged if t.secrets.is_empty() => {
                    writeln!(self.out, "{name}: no changes")?
                }
                Status::Unchanged => writeln!(self.out, "{name}: no configuration changes")?,
                Status::Changes => writeln!(self.out, "{name}: {}", counts_text(t.counts))?,
                Status::Create => {
                    writeln!(self.out, "{name}: new tenant, {}", counts_text(t.counts))?
                }
                Status::Error => writeln!(self.out, "{name}: {}", style("error").red().bold())?,
            }
        }
        if let Some(b) = &t.backup {
            writeln!(self.out, "  backup: {b}")?;
        }
        if !t.secrets.is_empty() {
            writeln!(
                self.out,
                "  secrets sent: {}",
                t.secrets
                    .iter()
                    .map(|p| path_text(p))
                    .collect::<Vec<_>>()
                    .join(", ")
            )?;
        }
        for e in &t.errors {
            for (i, line) in e.to_string().lines().enumerate() {
                writeln!(
                    self.out,
                    "  {}{line}",
                    if i == 0 { "error: " } else { "  " }
                )?;
            }
        }
        for c in &t.changes {
            writeln!(self.out, "{}", change_line(c))?;
        }
        if !t.not_applied.is_empty() {
            writeln!(self.out, "  {}", style(NOT_APPLIED).red())?;
            for c in &t.not_applied {
                writeln!(self.out, "  {}", change_line(c))?;
            }
        }
        for c in &t.skipped {
            writeln!(
                self.out,
                "  {} {} ({KEPT})",
                style("!").magenta(),
                path_text(&c.path)
            )?;
        }
        for c in &t.kept {
            writeln!(
                self.out,
                "  {} {} ({KEPT_DRIFT})",
                style("!").magenta(),
                path_text(&c.path)
            )?;
        }
        writeln!(self.out)
    }

    fn end(&mut self, s: &Summary) -> io::Result<()> {
        writeln!(self.out, "{}", summary_text(s))?;
        self.out.flush()
    }
}

pub(crate) fn change_line(c: &Change) -> String {
    let path = path_text(&c.path);
    let reason = reason_text(c.reason);
    let show = |v: &Option<Value>| v.as_ref().map(value_text).unwrap_or_default();
    match c.kind {
        ChangeKind::Add => format!("  {} {path} = {}{reason}", style("+").green(), show(&c.new)),
        ChangeKind::Replace => {
            format!(
                "  {} {path}: {} → {}{reason}",
                style("~").yellow(),
                show(&c.old),
                show(&c.new)
            )
        }
        ChangeKind::Remove => format!("  {} {path}{reason}", style("-").red()),
    }
}

/// The JSON report: one document, with each tenant compact on a line of its own so that it can
/// be written as the plan goes (and grepped). Fields are documented in the README.
pub struct Json<W: Write> {
    pub out: W,
    pub first: bool,
}

impl<W: Write> Json<W> {
    /// Returns a JSON sink writing to `out`.
    pub fn new(out: W) -> Self {
        Json { out, first: true }
    }
}

impl<W: Write> Sink for Json<W> {
    fn begin(&mut self, h: &Header) -> io::Result<()> {
        let header = serde_json::to_string(h)?;
        // `{"version":2,...}` without its closing brace, then the tenants.
        write!(self.out, "{},\n\"tenants\": [", &header[..header.len() - 1])
    }

    fn tenant(&mut self, t: &TenantPlan) -> io::Result<()> {
        self.out
            .write_all(if self.first { b"\n" } else { b",\n" })?;
        self.first = false;
        serde_json::to_writer(&mut self.out, t)?;
        Ok(())
    }

    fn end(&mut self, s: &Summary) -> io::Result<()> {
        writeln!(
            self.out,
            "\n],\n\"summary\": {}}}",
            serde_json::to_string(s)?
        )?;
        self.out.flush()
    }
}

/// Most characters of tenant details in a markdown report: GitHub refuses comments over 65,536.
const MARKDOWN_BUDGET: usize = 50_000;
/// Most tenant rows in the markdown table.
const MARKDOWN_ROWS: usize = 100;

/// Markdown for a pull request comment: summary, a table of the tenants with changes or errors,
/// and one collapsible diff per tenant, within GitHub's comment size.
pub struct Markdown<W: Write> {
    pub out: W,
    header: Option<Header>,
    rows: Vec<String>,
    details: String,
    left_out: usize,
}

impl<W: Write> Markdown<W> {
    /// Returns a markdown sink writing to `out`.
    pub fn new(out: W) -> Self {
        Markdown {
            out,
            header: None,
            rows: Vec::new(),
            details: String::new(),
            left_out: 0,
        }
    }
}

/// Whether a report for people details tenant `t`: it has changes, errors, secrets sent, or
/// conflicts `--mode ignore` kept (a reviewer must see that the platform's value stays);
/// unchanged tenants are only counted.
pub(crate) fn worth_detailing(t: &TenantPlan) -> bool {
    t.status != Status::Unchanged || !t.secrets.is_empty() || !t.skipped.is_empty()
}

/// What heads the changes of a tenant that the platform did not take.
pub(crate) const NOT_APPLIED: &str =
    "not applied (the platform did not take these; the next plan shows them again):";

/// What a conflict that `--mode ignore` kept says, after its path.
pub(crate) const KEPT: &str = "conflict: kept the platform's value, --mode ignore";

/// What drift that `--drift keep` kept says, after its path.
pub(crate) const KEPT_DRIFT: &str = "drift: kept the platform's value, --drift keep";

/// A tenant's status in a word: what apply did, or else what the plan found.
pub(crate) fn status_word(t: &TenantPlan) -> &'static str {
    match (t.outcome, t.status) {
        (Some(Outcome::Applied), _) => "applied",
        (Some(Outcome::DryRun), _) => "accepted (dry run)",
        (Some(Outcome::Failed), _) => "failed",
        (Some(Outcome::PartlyApplied), _) => "partly applied",
        (_, Status::Changes) => "changes",
        (_, Status::Create) => "new tenant",
        (_, Status::Error) => "error",
        (_, Status::Unchanged) if !t.skipped.is_empty() => "conflicts kept",
        (_, Status::Unchanged) => "unchanged",
    }
}

pub(crate) fn md_escape(s: &str) -> String {
    s.replace('|', "\\|").replace('`', "'")
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

impl<W: Write> Sink for Markdown<W> {
    fn begin(&mut self, h: &Header) -> io::Result<()> {
        self.header = Some(h.clone());
        Ok(())
    }

    fn tenant(&mut self, t: &TenantPlan) -> io::Result<()> {
        if !worth_detailing(t) {
            return Ok(());
        }
        let status = match status_word(t) {
            word @ ("failed" | "error") => format!("**{word}**"),
            word => word.to_owned(),
        };
        if self.rows.len() < MARKDOWN_ROWS {
            self.rows.push(format!(
                "| `{}` | `{}` | {status} | {} | {} | {} |",
                md_escape(&t.key),
                md_escape(&t.id),
                t.counts.add,
                t.counts.replace,
                t.counts.remove
            ));
        }
        let mut block = format!(
            "<details><summary><code>{}</code> ({})</summary>\n\n```diff\n",
            html_escape(&t.key),
            html_escape(&t.id)
        );
        for e in &t.errors {
            for line in e.to_string().lines() {
                block.push_str(&format!("! {line}\n"));
            }
        }
        for c in &t.changes {
            let path = path_text(&c.path);
            let reason = reason_text(c.reason);
            let show = |v: &Option<Value>| v.as_ref().map(value_text).unwrap_or_default();
            match c.kind {
                ChangeKind::Add => {
                    block.push_str(&format!("+ {path} = {}{reason}\n", show(&c.new)))
                }
                ChangeKind::Replace => {
                    block.push_str(&format!("- {path} = {}\n", show(&c.old)));
                    block.push_str(&format!("+ {path} = {}{reason}\n", show(&c.new)));
                }
                ChangeKind::Remove => block.push_str(&format!("- {path}{reason}\n")),
            }
        }
        for c in &t.not_applied {
            block.push_str(&format!("! {} (not applied)\n", path_text(&c.path)));
        }
        for c in &t.skipped {
            block.push_str(&format!("! {} ({KEPT})\n", path_text(&c.path)));
        }
        for c in &t.kept {
            block.push_str(&format!("! {} ({KEPT_DRIFT})\n", path_text(&c.path)));
        }
        block.push_str("```\n\n</details>\n\n");
        if self.details.len() + block.len() <= MARKDOWN_BUDGET {
            self.details.push_str(&block);
        } else {
            self.left_out += 1;
        }
        Ok(())
    }

    fn end(&mut self, s: &Summary) -> io::Result<()> {
        if let Some(h) = &self.header {
            writeln!(
                self.out,
                "### promote {}: `{}` against `{}`\n",
                h.action.as_deref().unwrap_or("plan"),
                md_escape(&h.env),
                md_escape(&h.against)
            )?;
            let lines = h.policy_lines();
            for line in &lines {
                // An indented code block: shown as it is, one line each (`quoted`).
                writeln!(self.out, "    {line}")?;
            }
            if !lines.is_empty() {
                writeln!(self.out)?;
            }
        }
        writeln!(
            self.out,
            "**{}** tenant(s): **{}** with changes ({}), {} unchanged, **{}** error(s){}.\n",
            s.tenants,
            s.with_changes,
            counts_text(s.changes),
            s.unchanged,
            s.errors,
            if s.partly_applied > 0 {
                format!(", **{}** partly applied", s.partly_applied)
            } else {
                String::new()
            }
        )?;
        if self.rows.is_empty() {
            writeln!(self.out, "No changes.")?;
            return self.out.flush();
        }
        writeln!(
            self.out,
            "| tenant | id | status | add | change | remove |\n|---|---|---|---:|---:|---:|"
        )?;
        for row in &self.rows {
            writeln!(self.out, "{row}")?;
        }
        let shown_rows = self.rows.len();
        // A tenant partly applied counts both with changes and as an error.
        let listed = s.with_changes + s.errors - s.partly_applied;
        if listed > shown_rows {
            writeln!(
                self.out,
                "\n…and {} more tenant(s) with changes or errors.",
                listed - shown_rows
            )?;
        }
        writeln!(self.out)?;
        self.out.write_all(self.details.as_bytes())?;
        if self.left_out > 0 {
            writeln!(
                self.out,
                "The diffs of {} more tenant(s) do not fit in a comment: see `promote plan --output json`.",
                self.left_out
            )?;
        }
        self.out.flush()
    }
}

fn capitalize(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

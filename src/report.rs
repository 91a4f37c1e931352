//! Human forms of a plan: coloured text for a terminal, markdown for a pull request.
//! (The JSON form is the serde form of [`Report`], documented in the README.)

use std::fmt::Write;

use console::style;
use serde_json::Value;

use crate::patch::three_way::{Change, ChangeKind, Reason};
use crate::plan::{Counts, Report, Status, TenantPlan};

/// Longest value shown inline; longer ones are cut with "…".
const MAX_VALUE: usize = 160;

fn counts_text(c: Counts) -> String {
    format!(
        "{} to add, {} to change, {} to remove",
        c.add, c.replace, c.remove
    )
}

fn value_text(v: &Value) -> String {
    let s = serde_json::to_string(v).unwrap_or_default();
    if s.chars().count() > MAX_VALUE {
        let cut: String = s.chars().take(MAX_VALUE).collect();
        format!("{cut}…")
    } else {
        s
    }
}

fn reason_text(r: Reason) -> &'static str {
    match r {
        Reason::Desired => "",
        Reason::Drift => " (drift: restores the repository's value)",
        Reason::Conflict => " (conflict: repository wins)",
    }
}

fn path_text(p: &str) -> &str {
    if p.is_empty() {
        "/"
    } else {
        p
    }
}

fn change_line(c: &Change) -> String {
    let path = path_text(&c.path);
    let reason = reason_text(c.reason);
    match c.kind {
        ChangeKind::Add => format!(
            "  {} {path} = {}{reason}",
            style("+").green(),
            c.new.as_ref().map(value_text).unwrap_or_default()
        ),
        ChangeKind::Replace => format!(
            "  {} {path}: {} → {}{reason}",
            style("~").yellow(),
            c.old.as_ref().map(value_text).unwrap_or_default(),
            c.new.as_ref().map(value_text).unwrap_or_default()
        ),
        ChangeKind::Remove => format!("  {} {path}{reason}", style("-").red()),
    }
}

fn tenant_heading(t: &TenantPlan) -> String {
    let name = format!("{} ({})", t.key, t.id);
    match t.status {
        Status::Unchanged => format!("{}: no changes", style(name).bold()),
        Status::Changes => format!("{}: {}", style(name).bold(), counts_text(t.counts)),
        Status::Create => format!(
            "{}: new tenant, {}",
            style(name).bold(),
            counts_text(t.counts)
        ),
        Status::Error => format!("{}: {}", style(name).bold(), style("error").red().bold()),
    }
}

/// Returns the plan as text: a summary per tenant with changes or errors, then its changes.
/// Unchanged tenants are counted, and listed only when `verbose`.
pub fn text(report: &Report, verbose: bool) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Plan for {} against {} (mode {})\n",
        style(&report.env).bold(),
        report.against,
        report.mode.as_str()
    );
    for t in &report.tenants {
        if t.status == Status::Unchanged && !verbose {
            continue;
        }
        let _ = writeln!(out, "{}", tenant_heading(t));
        for e in &t.errors {
            for (i, line) in e.to_string().lines().enumerate() {
                let _ = writeln!(out, "  {}{line}", if i == 0 { "error: " } else { "  " });
            }
        }
        for c in &t.changes {
            let _ = writeln!(out, "{}", change_line(c));
        }
        for c in &t.skipped {
            let _ = writeln!(
                out,
                "  {} {} (conflict: kept the platform's value, --mode ignore)",
                style("!").magenta(),
                path_text(&c.path)
            );
        }
        out.push('\n');
    }
    let s = &report.summary;
    let _ = writeln!(
        out,
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
    );
    out
}

fn md_escape(s: &str) -> String {
    s.replace('|', "\\|").replace('`', "'")
}

/// Returns the plan as markdown for a pull request comment: a table of tenants, then one
/// collapsible diff per tenant with changes.
pub fn markdown(report: &Report) -> String {
    let s = &report.summary;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "### promote plan: `{}` against `{}`\n",
        md_escape(&report.env),
        md_escape(&report.against)
    );
    let _ = writeln!(
        out,
        "**{}** tenant(s): **{}** with changes ({}), {} unchanged, **{}** error(s).\n",
        s.tenants,
        s.with_changes,
        counts_text(s.changes),
        s.unchanged,
        s.errors
    );
    let shown: Vec<&TenantPlan> = report
        .tenants
        .iter()
        .filter(|t| t.status != Status::Unchanged)
        .collect();
    if shown.is_empty() {
        out.push_str("No changes.\n");
        return out;
    }
    out.push_str(
        "| tenant | id | status | add | change | remove |\n|---|---|---|---:|---:|---:|\n",
    );
    for t in &shown {
        let status = match t.status {
            Status::Changes => "changes",
            Status::Create => "new tenant",
            Status::Error => "**error**",
            Status::Unchanged => "unchanged",
        };
        let _ = writeln!(
            out,
            "| `{}` | `{}` | {status} | {} | {} | {} |",
            md_escape(&t.key),
            md_escape(&t.id),
            t.counts.add,
            t.counts.replace,
            t.counts.remove
        );
    }
    out.push('\n');
    for t in &shown {
        let _ = writeln!(
            out,
            "<details><summary><code>{}</code> ({})</summary>\n",
            html_escape(&t.key),
            html_escape(&t.id)
        );
        out.push_str("```diff\n");
        for e in &t.errors {
            for line in e.to_string().lines() {
                let _ = writeln!(out, "! {line}");
            }
        }
        for c in &t.changes {
            let path = path_text(&c.path);
            let reason = reason_text(c.reason);
            match c.kind {
                ChangeKind::Add => {
                    let _ = writeln!(
                        out,
                        "+ {path} = {}{reason}",
                        c.new.as_ref().map(value_text).unwrap_or_default()
                    );
                }
                ChangeKind::Replace => {
                    let _ = writeln!(
                        out,
                        "- {path} = {}",
                        c.old.as_ref().map(value_text).unwrap_or_default()
                    );
                    let _ = writeln!(
                        out,
                        "+ {path} = {}{reason}",
                        c.new.as_ref().map(value_text).unwrap_or_default()
                    );
                }
                ChangeKind::Remove => {
                    let _ = writeln!(out, "- {path}{reason}");
                }
            }
        }
        out.push_str("```\n\n</details>\n\n");
    }
    out
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

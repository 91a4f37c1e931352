//! The forms of a plan, written as the plan goes: coloured text for a terminal, JSON for
//! machines, markdown for a pull request comment.
//!
//! A report is a [`Header`], then one [`TenantPlan`] at a time, then the [`Summary`]. JSON is
//! written as the plan goes and keeps every tenant's patch. The forms for people (text,
//! markdown, html) group tenants whose changes are the same once their own values are
//! abstracted ([`group`]) and show each distinct change once, with its tenants: they hold one
//! plan per distinct change, not one per tenant. Every value is shown whole ([`lines`]);
//! markdown stays within a pull request comment's size by folding whole groups, never by
//! cutting a value.

mod group;
mod html;
pub(crate) mod lines;

use std::io::{self, Write};

use console::style;

use crate::patch::three_way::{Change, Mode};
use crate::plan::{Counts, Header, Outcome, Status, Summary, TenantPlan};
use group::{Group, Groups};
use lines::{Line, Mark, Replace, Resolution, Values};

pub use html::Html;

/// Where a plan is written, tenant by tenant.
pub trait Sink {
    fn begin(&mut self, header: &Header) -> io::Result<()>;
    fn tenant(&mut self, plan: &TenantPlan) -> io::Result<()>;
    fn end(&mut self, summary: &Summary) -> io::Result<()>;
}

fn counts_text(c: Counts) -> String {
    format!(
        "{} to add, {} to change, {} to remove",
        c.add, c.replace, c.remove
    )
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
    } + &removed_text(s)
        .map(|t| format!("; {t}"))
        .unwrap_or_default()
}

/// What a plan that removes whole objects says in its summary: applying it needs
/// `--allow-delete`.
fn removed_text(s: &Summary) -> Option<String> {
    (s.objects_removed > 0).then(|| {
        format!(
            "{} object(s) removed: apply needs --allow-delete",
            s.objects_removed
        )
    })
}

/// Most tenant names a group of several names in text; the rest are counted.
const TEXT_NAMES: usize = 50;

/// What `--mode` does with a conflict.
fn resolution(mode: Mode) -> Resolution {
    match mode {
        Mode::Update => Resolution::RepositoryWins,
        Mode::Ignore => Resolution::PlatformKept,
        Mode::Fail => Resolution::Refused,
    }
}

/// Coloured text (colours follow the process-wide setting): per tenant with changes or errors
/// (per group of tenants with the same change) a heading and its changes; unchanged tenants
/// are counted, and listed only when `verbose`. Written at the end, when the groups are known.
pub struct Text<W: Write> {
    /// Where the report goes (others may write around it).
    pub out: W,
    verbose: bool,
    mode: Mode,
    groups: Groups,
}

impl<W: Write> Text<W> {
    /// Returns a text sink writing to `out`; `verbose` lists unchanged tenants too.
    pub fn new(out: W, verbose: bool) -> Self {
        Text {
            out,
            verbose,
            mode: Mode::Update,
            groups: Groups::new(usize::MAX),
        }
    }

    fn group(&mut self, g: &Group) -> io::Result<()> {
        let Some(t) = g.shown() else {
            return Ok(());
        };
        let values = g.values();
        let name = match g.tenants.as_slice() {
            [(key, id)] => format!("{key} ({id})"),
            _ => g.names(TEXT_NAMES),
        };
        let name = style(name).bold();
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
                Status::Unchanged if t.already => writeln!(self.out, "{name}: {ALREADY}")?,
                Status::Unchanged if !t.kept.is_empty() => {
                    writeln!(self.out, "{name}: {}", style(status_word(&t)).yellow())?
                }
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
        if g.shows_placeholders() {
            writeln!(self.out, "  {}", style(PLACEHOLDERS).dim())?;
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
            write!(
                self.out,
                "{}",
                styled(&lines::change(c, Replace::OneLine, values), 0)
            )?;
        }
        if !t.not_applied.is_empty() {
            writeln!(self.out, "  {}", style(NOT_APPLIED).red())?;
            for c in &t.not_applied {
                write!(
                    self.out,
                    "{}",
                    styled(&lines::change(c, Replace::OneLine, values), 1)
                )?;
            }
        }
        let did = resolution(self.mode);
        for c in &t.conflicts {
            write!(
                self.out,
                "{}",
                styled(&lines::conflict(c, did, Replace::OneLine, values), 0)
            )?;
        }
        for c in &t.kept {
            write!(self.out, "{}", styled(&lines::kept_drift(c, values), 0))?;
        }
        writeln!(self.out)
    }
}

/// What a group of several tenants says of the values shown as placeholders.
const PLACEHOLDERS: &str =
    "(each tenant's own values are shown as {{ tenant.id }}, {{ tenant.key }}, {{ vars.NAME }})";

/// `lines` as coloured text, each indented two spaces and `depth` levels more.
fn styled(lines: &[Line], depth: usize) -> String {
    let mut out = String::new();
    for l in lines {
        let indent = "  ".repeat(1 + depth + l.depth);
        let line = match l.mark {
            Mark::Add => format!("{indent}{} {}", style("+").green(), l.text),
            Mark::Remove => format!("{indent}{} {}", style("-").red(), l.text),
            Mark::Replace => format!("{indent}{} {}", style("~").yellow(), l.text),
            Mark::Context => format!("{indent}  {}", l.text),
            Mark::Hunk => format!("{indent}{}", style(&l.text).cyan()),
            Mark::Note => format!("{indent}{} {}", style("!").magenta(), l.text),
        };
        // A line with nothing after its mark ends there; a line of a value keeps its spaces.
        out.push_str(if l.text.is_empty() {
            line.trim_end()
        } else {
            &line
        });
        out.push('\n');
    }
    out
}

impl<W: Write> Sink for Text<W> {
    fn begin(&mut self, h: &Header) -> io::Result<()> {
        self.mode = h.mode;
        self.groups = Groups::new(usize::MAX);
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
        if self.verbose || worth_detailing(t) {
            self.groups.add(t);
        }
        Ok(())
    }

    fn end(&mut self, s: &Summary) -> io::Result<()> {
        let groups = std::mem::replace(&mut self.groups, Groups::new(usize::MAX));
        for g in groups.iter() {
            self.group(g)?;
        }
        writeln!(self.out, "{}", summary_text(s))?;
        self.out.flush()
    }
}

/// The lines of change `c` as text reports show them, each ending in a new line and indented
/// `indent` (drift's report of what is not yet applied).
pub(crate) fn change_text(c: &Change, indent: &str) -> String {
    styled(&lines::change(c, Replace::OneLine, Values::Real), 0)
        .lines()
        .map(|l| format!("{indent}{l}\n"))
        .collect()
}

/// The lines of a path drift found changed on the platform (applied, now live), as text
/// reports show them: whole, a long or multi-line value as a line diff; `note` follows the
/// path.
pub(crate) fn drifted_text(
    path: &str,
    applied: Option<&serde_json::Value>,
    live: Option<&serde_json::Value>,
    note: &str,
) -> String {
    styled(&lines::drifted(path, applied, live, note), 0)
}

/// The JSON report: one document, with each tenant compact on a line of its own so that it can
/// be written as the plan goes (and grepped). Fields are documented in the README.
pub struct Json<W: Write> {
    pub out: W,
    pub first: bool,
    /// A tenant's JSON, kept for the next one's.
    buffer: Vec<u8>,
}

impl<W: Write> Json<W> {
    /// Returns a JSON sink writing to `out`.
    pub fn new(out: W) -> Self {
        Json {
            out,
            first: true,
            buffer: Vec::new(),
        }
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
        // Written whole, then copied: serde_json writes a string in pieces, and each piece
        // costs a buffered writer more than it costs a list of bytes.
        self.buffer.clear();
        serde_json::to_writer(&mut self.buffer, t)?;
        self.out.write_all(&self.buffer)
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

/// GitHub refuses comments over 65,536 characters: a markdown report stays well within.
pub(crate) const MARKDOWN_LIMIT: usize = 65_536;
/// Most characters of a markdown report's table, changes and list of what is folded: what is
/// left of [`MARKDOWN_LIMIT`] is for the title, the totals and the notes (and, in `promote
/// ci`'s summary, its own table).
pub const MARKDOWN_BUDGET: usize = 56_000;
/// Most characters of the table of tenants.
const MARKDOWN_TABLE: usize = 8_000;
/// Most characters of the list of groups folded away.
const MARKDOWN_FOLDED: usize = 6_000;
/// Most tenant rows in the markdown table.
const MARKDOWN_ROWS: usize = 100;
// The title, the summary and the notes take far less than what is left.
const _: () = assert!(MARKDOWN_BUDGET + 8_000 < MARKDOWN_LIMIT);

/// Most tenant names a group of several names in markdown.
const MARKDOWN_NAMES: usize = 20;

/// Markdown for a pull request comment: summary, a table of the tenants with changes or errors,
/// and one collapsible diff per distinct change (with the tenants it applies to), within
/// GitHub's comment size: what does not fit is folded whole, listed by its tenants and counts.
pub struct Markdown<W: Write> {
    pub out: W,
    header: Option<Header>,
    /// The table's rows of errors, failures and tenants partly applied (shown first), and of
    /// the others, each at most what the table holds.
    rows: [Rows; 2],
    groups: Groups,
    /// Most characters of the table, the changes and the list of what is folded.
    budget: usize,
}

impl<W: Write> Markdown<W> {
    /// Returns a markdown sink writing to `out`.
    pub fn new(out: W) -> Self {
        Markdown {
            out,
            header: None,
            rows: [Rows::default(), Rows::default()],
            // Enough to fill the comment even where placeholders are longer than the values.
            groups: Groups::new(4 * MARKDOWN_BUDGET),
            budget: MARKDOWN_BUDGET,
        }
    }

    /// This report within `budget` characters of table, changes and folded list instead of
    /// [`MARKDOWN_BUDGET`]: `promote ci` writes one report per environment into one summary,
    /// each within its share of what the ones before it left.
    pub fn within(mut self, budget: usize) -> Self {
        self.budget = budget.min(MARKDOWN_BUDGET);
        self.groups = Groups::new(4 * self.budget);
        self
    }

    /// Most characters of the table.
    fn table_budget(&self) -> usize {
        MARKDOWN_TABLE.min(self.budget / 7)
    }

    /// Most characters of the list of what is folded.
    fn folded_budget(&self) -> usize {
        MARKDOWN_FOLDED.min(self.budget / 9)
    }
}

/// Rows of the markdown table, and their characters.
#[derive(Default)]
struct Rows {
    rows: Vec<String>,
    len: usize,
}

impl Rows {
    /// Adds `row` if the table, `budget` characters, has room for it.
    fn push(&mut self, row: String, budget: usize) {
        if self.rows.len() < MARKDOWN_ROWS && self.len + row.len() < budget {
            self.len += row.len() + 1;
            self.rows.push(row);
        }
    }
}

/// A code fence longer than any run of backticks in `body`, so that no value closes it early.
fn fence(body: &str) -> String {
    let mut longest = 0;
    let mut run = 0;
    for c in body.chars() {
        run = if c == '`' { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    "`".repeat((longest + 1).max(3))
}

/// `lines` as the lines of a diff block: the mark first (where GitHub colours it), then the
/// indent of the line's depth.
fn diff_block(lines: &[Line], depth: usize, out: &mut String) {
    for l in lines {
        let indent = "  ".repeat(depth + l.depth);
        let mark = match l.mark {
            Mark::Add => '+',
            Mark::Remove => '-',
            Mark::Replace => '~',
            Mark::Context => ' ',
            Mark::Note => '!',
            Mark::Hunk => {
                out.push_str(&format!("{}\n", l.text));
                continue;
            }
        };
        out.push_str(&format!("{mark}{indent} {}\n", l.text));
    }
}

/// The `<details>` block of group `g` showing plan `t`.
fn markdown_block(g: &Group, t: &TenantPlan, mode: Mode) -> String {
    let mut body = String::new();
    let values = g.values();
    for e in &t.errors {
        for line in e.to_string().lines() {
            body.push_str(&format!("! {line}\n"));
        }
    }
    for c in &t.changes {
        diff_block(&lines::change(c, Replace::Pair, values), 0, &mut body);
    }
    for c in &t.not_applied {
        body.push_str(&format!("! {} (not applied)\n", path_text(&c.path)));
    }
    for c in &t.conflicts {
        diff_block(
            &lines::conflict(c, resolution(mode), Replace::Pair, values),
            0,
            &mut body,
        );
    }
    for c in &t.kept {
        diff_block(&lines::kept_drift(c, values), 0, &mut body);
    }
    if body.is_empty() && t.already {
        // Its row says it all: the tenant already held the saved plan, nothing was sent.
        return String::new();
    }
    let summary = match g.tenants.as_slice() {
        [(key, id)] => format!("<code>{}</code> ({})", html_escape(key), html_escape(id)),
        _ => format!(
            "{} ({}: {})",
            html_escape(&g.names(MARKDOWN_NAMES)),
            status_word(t),
            counts_text(t.counts)
        ),
    };
    let note = if g.shows_placeholders() {
        format!("{}\n\n", md_escape(PLACEHOLDERS))
    } else {
        String::new()
    };
    let fence = fence(&body);
    format!("<details><summary>{summary}</summary>\n\n{note}{fence}diff\n{body}{fence}\n\n</details>\n\n")
}

/// Whether a report for people details tenant `t`: it has changes, errors, secrets sent,
/// conflicts `--mode ignore` kept or drift `--drift keep` kept (a reviewer must see that the
/// platform's value stays); unchanged tenants are only counted.
pub(crate) fn worth_detailing(t: &TenantPlan) -> bool {
    t.status != Status::Unchanged
        || !t.secrets.is_empty()
        || !t.skipped.is_empty()
        || !t.kept.is_empty()
        || t.already
}

/// What a tenant of a saved plan says whose platform already held the plan's result.
pub(crate) const ALREADY: &str = "already holds this plan (nothing sent; recorded as applied)";

/// What heads the changes of a tenant that the platform did not take.
pub(crate) const NOT_APPLIED: &str =
    "not applied (the platform did not take these; the next plan shows them again):";

/// What a conflict that `--mode ignore` kept says it did.
pub(crate) const KEPT_WHY: &str = "kept the platform's value, --mode ignore";

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
        (_, Status::Unchanged) if t.already => "already holds this plan",
        (_, Status::Unchanged) if !t.skipped.is_empty() => "conflicts kept",
        (_, Status::Unchanged) if !t.kept.is_empty() => "drift kept",
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
            word @ ("failed" | "error" | "partly applied") => format!("**{word}**"),
            word => word.to_owned(),
        };
        let row = format!(
            "| `{}` | `{}` | {status} | {} | {} | {} |",
            md_escape(&t.key),
            md_escape(&t.id),
            t.counts.add,
            t.counts.replace,
            t.counts.remove
        );
        let budget = self.table_budget();
        self.rows[usize::from(!group::first(t))].push(row, budget);
        self.groups.add(t);
        Ok(())
    }

    fn end(&mut self, s: &Summary) -> io::Result<()> {
        let mode = self.header.as_ref().map_or(Mode::Update, |h| h.mode);
        let mut out = String::new();
        if let Some(h) = &self.header {
            out.push_str(&format!(
                "### promote {}: `{}` against `{}`\n\n",
                md_escape(h.action.as_deref().unwrap_or("plan")),
                md_escape(&h.env),
                md_escape(&h.against)
            ));
            let lines = h.policy_lines();
            for line in &lines {
                // An indented code block: shown as it is, one line each (`quoted`).
                out.push_str(&format!("    {line}\n"));
            }
            if !lines.is_empty() {
                out.push('\n');
            }
        }
        out.push_str(&format!(
            "**{}** tenant(s): **{}** with changes ({}), {} unchanged, **{}** error(s){}.\n\n",
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
        ));
        if let Some(removed) = removed_text(s) {
            out.push_str(&format!("**{}**.\n\n", md_escape(&removed)));
        }
        // Errors, failures and tenants partly applied first, then the others while they fit.
        let [first, others] = std::mem::take(&mut self.rows);
        let mut rows = first;
        for row in others.rows {
            rows.push(row, self.table_budget());
        }
        if rows.rows.is_empty() {
            out.push_str("No changes.\n");
            self.out.write_all(out.as_bytes())?;
            return self.out.flush();
        }
        out.push_str(
            "| tenant | id | status | add | change | remove |\n|---|---|---|---:|---:|---:|\n",
        );
        for row in &rows.rows {
            out.push_str(row);
            out.push('\n');
        }
        // A tenant partly applied counts both with changes and as an error.
        let listed = s.with_changes + s.errors - s.partly_applied;
        if listed > rows.rows.len() {
            out.push_str(&format!(
                "\n…and {} more tenant(s) with changes or errors.\n",
                listed - rows.rows.len()
            ));
        }
        out.push('\n');
        // What the table and the list of what is folded leave.
        let room = self.budget.saturating_sub(rows.len + self.folded_budget());
        let mut details = 0;
        let mut folded: Vec<&Group> = Vec::new();
        // Errors, failures and tenants partly applied first: shown, or else named first.
        for g in self.groups.ordered() {
            let block = g.shown().map(|t| markdown_block(g, &t, mode));
            match block {
                Some(block) if details + block.len() <= room => {
                    details += block.len();
                    out.push_str(&block);
                }
                _ => folded.push(g),
            }
        }
        if !folded.is_empty() {
            let env = self.header.as_ref().map_or("ENV", |h| h.env.as_str());
            out.push_str(&folded_text(&folded, env, self.folded_budget()));
        }
        self.out.write_all(out.as_bytes())?;
        self.out.flush()
    }
}

/// The list of the groups whose changes do not fit in a comment: each by its tenants and
/// counts, within `budget` characters, the rest counted; where to read them all (the plan of
/// environment `env` as html or json: `promote ci` has neither).
fn folded_text(folded: &[&Group], env: &str, budget: usize) -> String {
    let tenants: usize = folded.iter().map(|g| g.tenants.len()).sum();
    let mut out = format!(
        "The changes of {} more tenant(s) do not fit in a comment: see `promote plan --env {} --output html` (or `--output json`).\n\n",
        group::thousands(tenants),
        md_escape(&env.replace(['\n', '\r'], " "))
    );
    let mut listed = 0;
    for g in folded {
        let names = match g.tenants.as_slice() {
            [(key, id)] => format!("`{}` ({})", md_escape(key), md_escape(id)),
            _ => md_escape(&g.names(MARKDOWN_NAMES)),
        };
        // A tenant with an error, or that failed, says so (they come first: `ordered`), and
        // the count below says how many of those it holds.
        let line = if g.first {
            format!("- {names}: **error or failure** (see the job's log)\n")
        } else {
            format!("- {names}: {}\n", counts_text(g.counts))
        };
        if out.len() + line.len() > budget {
            break;
        }
        out.push_str(&line);
        listed += 1;
    }
    if listed < folded.len() {
        let rest = &folded[listed..];
        let tenants: usize = rest.iter().map(|g| g.tenants.len()).sum();
        let errors: usize = rest
            .iter()
            .filter(|g| g.first)
            .map(|g| g.tenants.len())
            .sum();
        out.push_str(&format!(
            "- …and {} more change(s) in {} tenant(s){}\n",
            group::thousands(rest.len()),
            group::thousands(tenants),
            if errors > 0 {
                format!(", **{} of them with errors**", group::thousands(errors))
            } else {
                String::new()
            }
        ));
    }
    out.push('\n');
    out
}

fn capitalize(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnostic::Diagnostic;
    use crate::environment::Tenant;
    use crate::patch::three_way::{ChangeKind, Conflict, Reason};
    use serde_json::{json, Value};

    fn header(mode: Mode) -> Header {
        Header {
            version: crate::plan::REPORT_VERSION,
            env: "prod".to_owned(),
            against: "live".to_owned(),
            mode,
            action: None,
            drift: Default::default(),
            ignore: Vec::new(),
        }
    }

    fn plan(key: &str, path: &str, old: Value, new: Value) -> TenantPlan {
        let t = Tenant {
            key: key.to_owned(),
            id: format!("{key}-prod"),
            template: "saas".to_owned(),
            vars: Default::default(),
        };
        let mut p = TenantPlan::empty(&t);
        p.status = Status::Changes;
        p.changes = vec![Change {
            path: path.to_owned(),
            kind: ChangeKind::Replace,
            old: Some(old),
            new: Some(new),
            reason: Reason::Desired,
        }];
        p.counts = Counts::of(&p.changes);
        p
    }

    /// Runs `plans` through `sink` and returns what it wrote.
    fn run<S: Sink>(sink: &mut S, mode: Mode, plans: &[TenantPlan]) {
        let mut summary = Summary::default();
        sink.begin(&header(mode)).unwrap();
        for p in plans {
            summary.add(p);
            sink.tenant(p).unwrap();
        }
        sink.end(&summary).unwrap();
    }

    fn markdown(mode: Mode, plans: &[TenantPlan]) -> String {
        let mut md = Markdown::new(Vec::new());
        run(&mut md, mode, plans);
        String::from_utf8(md.out).unwrap()
    }

    fn text(mode: Mode, plans: &[TenantPlan]) -> String {
        let mut t = Text::new(Vec::new(), false);
        run(&mut t, mode, plans);
        String::from_utf8(t.out).unwrap()
    }

    /// Regression: a value over the size reports show, in a group shown with placeholders, was
    /// summarised by the size and digest of its text with placeholders, which no tenant's value
    /// has (a reader looking for it in the JSON report found nothing).
    #[test]
    fn a_huge_value_with_placeholders_has_no_digest_of_its_own() {
        let huge = |key: &str| json!(format!("{}{key}-prod", "L".repeat(lines::HUGE)));
        let plans: Vec<TenantPlan> = ["acme", "globex"]
            .iter()
            .map(|key| plan(key, "/description", json!("x"), huge(key)))
            .collect();
        let mut html = Vec::new();
        run(&mut Html::new(&mut html), Mode::Update, &plans);
        let html = String::from_utf8(html).unwrap();
        let wanted = "(over 65,536 bytes, with each tenant's own values: see each tenant's in --output json)";
        for report in [
            text(Mode::Update, &plans),
            markdown(Mode::Update, &plans),
            html,
        ] {
            assert!(report.contains(wanted), "{report}");
            assert!(!report.contains("sha1"), "{report}");
        }
        // A group of literally the same value shows the value's own digest.
        let same: Vec<TenantPlan> = ["acme", "globex"]
            .iter()
            .map(|key| plan(key, "/description", json!("x"), huge("same")))
            .collect();
        let shown = text(Mode::Update, &same);
        assert!(shown.contains("in acme and globex"), "{shown}");
        assert!(shown.contains(", sha1 "), "{shown}");
    }

    /// 300 tenants, each with its own 2,000-character change: far more than a comment holds.
    fn many_large_changes() -> Vec<TenantPlan> {
        (0..300)
            .map(|i| {
                let body = format!("{i}:{}", "x".repeat(2000));
                plan(&format!("t{i:03}"), "/name", json!(""), json!(body))
            })
            .collect()
    }

    #[test]
    fn markdown_folds_whole_tenants_within_a_comment() {
        let plans = many_large_changes();
        let md = markdown(Mode::Update, &plans);
        assert!(md.len() < MARKDOWN_LIMIT, "{}", md.len());
        assert!(md.contains("do not fit in a comment"), "{md}");
        let (mut shown, mut listed) = (0, 0);
        for p in &plans {
            if md.contains(&format!("<summary><code>{}</code>", p.key)) {
                shown += 1;
                // Shown whole: the value is never cut.
                let value = p.changes[0].new.as_ref().unwrap().as_str().unwrap();
                assert!(md.contains(value), "{} is cut", p.key);
            } else if md.contains(&format!("- `{}` ({})", p.key, p.id)) {
                listed += 1;
            }
        }
        // The rest are counted: "- …and N more change(s) in M tenant(s)".
        let counted: usize = md
            .split_once(" more change(s) in ")
            .and_then(|(_, rest)| rest.split(' ').next())
            .map_or(0, |n| n.parse().unwrap());
        assert!(shown > 0 && listed > 0, "{md}");
        assert_eq!(shown + listed + counted, plans.len());
        assert_eq!(
            md.matches("<details>").count(),
            md.matches("</details>").count()
        );
        assert_eq!(md.matches("```diff").count() * 2, md.matches("```").count());
    }

    #[test]
    fn reports_sharing_a_comment_keep_to_their_share() {
        let plans = many_large_changes();
        let mut md = Markdown::new(Vec::new()).within(MARKDOWN_BUDGET / 3);
        run(&mut md, Mode::Update, &plans);
        let md = String::from_utf8(md.out).unwrap();
        assert!(md.len() < MARKDOWN_LIMIT / 3, "{}", md.len());
        assert!(md.contains("do not fit in a comment"));
    }

    #[test]
    fn a_fence_is_longer_than_any_backticks_in_a_value() {
        let p = plan("acme", "/description", json!("a"), json!("x ``` y ```` z"));
        let md = markdown(Mode::Update, &[p]);
        assert!(md.contains("`````diff\n"), "{md}");
        assert!(md.contains("\n`````\n"), "{md}");
        assert_eq!(fence("no backticks"), "```");
    }

    #[test]
    fn tenants_with_the_same_change_are_shown_once() {
        let plans: Vec<TenantPlan> = (0..1000)
            .map(|i| {
                let key = format!("t{i:04}");
                let old = json!(format!("https://{key}-prod.example.com/a"));
                let new = json!(format!("https://{key}-prod.example.com/b"));
                plan(&key, "/url", old, new)
            })
            .chain([plan("globex", "/name", json!("a"), json!("b"))])
            .collect();
        let out = text(Mode::Update, &plans);
        assert_eq!(out.matches("/url").count(), 1, "{out}");
        assert!(out.contains("in 1,000 tenants: t0000, t0001,"), "{out}");
        assert!(
            out.contains("and 950 more: 0 to add, 1 to change, 0 to remove\n"),
            "{out}"
        );
        assert!(out.contains("~ /url: \"https://{{ tenant.id }}.example.com/a\" → \"https://{{ tenant.id }}.example.com/b\""), "{out}");
        assert!(
            out.contains("globex (globex-prod): 0 to add, 1 to change"),
            "{out}"
        );
        let md = markdown(Mode::Update, &plans);
        assert_eq!(md.matches("+ /url").count(), 1, "{md}");
    }

    #[test]
    fn a_failed_tenant_is_never_hidden_in_a_group() {
        let mut plans: Vec<TenantPlan> = (0..3)
            .map(|i| plan(&format!("t{i}"), "/name", json!("a"), json!("b")))
            .collect();
        plans[1].outcome = Some(Outcome::Failed);
        plans[1].status = Status::Error;
        plans[1].errors = vec![Diagnostic::new("the platform refused the patch")];
        let out = text(Mode::Update, &plans);
        assert!(out.contains("in t0 and t2: 0 to add, 1 to change"), "{out}");
        assert!(out.contains("t1 (t1-prod): failed"), "{out}");
        assert!(
            out.contains("error: the platform refused the patch"),
            "{out}"
        );
    }

    #[test]
    fn conflicts_show_three_values_and_what_the_mode_did() {
        let mut p = plan("acme", "/name", json!("a"), json!("b"));
        p.conflicts = vec![Conflict {
            path: "/settings/locale".to_owned(),
            last_applied: Some(json!("en-US")),
            live: Some(json!("de-DE")),
            desired: Some(json!("fr-FR")),
        }];
        p.skipped = p.conflicts.clone();
        let out = text(Mode::Ignore, std::slice::from_ref(&p));
        assert!(out.contains("  ! /settings/locale (conflict: kept the platform's value, --mode ignore)\n    ! last applied: \"en-US\"\n    ! platform: \"de-DE\"\n    ! repository: \"fr-FR\"\n"), "{out}");
        let md = markdown(Mode::Fail, &[p]);
        assert!(md.contains("! /settings/locale (conflict: refused, --mode fail)\n!   last applied: \"en-US\"\n!   platform: \"de-DE\"\n!   repository: \"fr-FR\"\n"), "{md}");
    }

    /// Regression: in a fleet of 300 tenants each with its own change, a tenant that errors
    /// after them was in neither the table (full at 100 rows) nor the list of what is folded.
    #[test]
    fn an_error_in_a_large_fleet_comes_first_and_is_named() {
        let mut plans = many_large_changes();
        let mut failed = plan("zz-broken", "/name", json!("a"), json!("b"));
        failed.status = Status::Error;
        failed.errors = vec![Diagnostic::new("template does not render")];
        plans.push(failed);
        // Alone, and as one environment's share of `promote ci`'s summary.
        let mut shared = Markdown::new(Vec::new()).within(MARKDOWN_BUDGET / 3);
        run(&mut shared, Mode::Update, &plans);
        let shared = String::from_utf8(shared.out).unwrap();
        for (md, limit) in [
            (markdown(Mode::Update, &plans), MARKDOWN_LIMIT),
            (shared, MARKDOWN_LIMIT / 3),
        ] {
            check_error_first(&md, limit);
        }
    }

    /// From the re-check: with hundreds of tenants in error, those that did not fit were
    /// listed as "0 to add, 0 to change, 0 to remove", or only counted among the changes.
    #[test]
    fn errors_past_the_details_are_named_as_errors_and_counted_as_such() {
        let mut plans = Vec::new();
        for i in 0..400 {
            let mut failed = plan(&format!("t{i:03}"), "/name", json!("a"), json!("b"));
            failed.status = Status::Error;
            failed.errors = vec![Diagnostic::new("x".repeat(300))];
            plans.push(failed);
        }
        let md = markdown(Mode::Update, &plans);
        assert!(md.len() < MARKDOWN_LIMIT, "{}", md.len());
        assert!(md.contains("-prod): **error or failure**"), "{md}");
        let counted = md
            .split_once("- …and ")
            .map(|(_, rest)| rest.lines().next().unwrap_or_default().to_owned())
            .unwrap_or_default();
        assert!(counted.ends_with("of them with errors**"), "{counted}");
        assert!(!md.contains("(t399-prod): 0 to add"), "{md}");
    }

    fn check_error_first(md: &str, limit: usize) {
        assert!(md.len() < limit, "{}", md.len());
        let table = md.split_once("|---:|\n").unwrap().1;
        assert!(
            table.starts_with("| `zz-broken` | `zz-broken-prod` | **error** |"),
            "{md}"
        );
        let details = md.find("<details>").unwrap();
        assert!(
            md[details..].starts_with("<details><summary><code>zz-broken</code>"),
            "{md}"
        );
        assert!(md.contains("! template does not render"), "{md}");
        assert!(
            md.contains("see `promote plan --env prod --output html` (or `--output json`)"),
            "{md}"
        );
    }

    /// Regression: drift `--drift keep` kept was not shown for a tenant with nothing else.
    #[test]
    fn a_tenant_with_only_kept_drift_is_shown() {
        let mut p = plan("acme", "/name", json!("live"), json!("repo"));
        p.kept = std::mem::take(&mut p.changes);
        p.counts = Counts::default();
        p.status = Status::Unchanged;
        let out = text(Mode::Update, std::slice::from_ref(&p));
        assert!(out.contains("acme (acme-prod): drift kept\n"), "{out}");
        assert!(out.contains("/name (drift: kept the platform's value, --drift keep)"));
        let md = markdown(Mode::Update, std::slice::from_ref(&p));
        assert!(md.contains("| `acme` | `acme-prod` | drift kept |"), "{md}");
        assert!(md.contains("! /name (drift: kept"), "{md}");
        let mut html = Vec::new();
        run(&mut Html::new(&mut html), Mode::Update, &[p]);
        let html = String::from_utf8(html).unwrap();
        assert!(html.contains(">drift kept<"), "{html}");
    }
}

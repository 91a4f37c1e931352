//! Drift: how live tenants differ from what promote last applied and from the repository.
//!
//! Per tenant, from the same three trees as a plan (last-applied, desired, live), the
//! [`Finding`]s:
//!
//! - **changed on the platform**: paths the repository owns whose live value is no longer the
//!   one promote applied (the plan's `drift` and `conflict` changes);
//! - **created there**: objects created on the platform that neither the last apply nor the
//!   repository has;
//! - **not yet applied**: what the repository changed since the last apply;
//! - **only on the platform**: fields that live has inside objects the repository manages, and
//!   that neither the repository nor the last apply has (a field set by hand in the console).
//!   What the platform maintains by itself is not listed: volatile timestamps, credentials, its
//!   material, and the fields its API description marks read-only. A field it adds to objects by
//!   default (a new release's) shows once, like any field set by hand: adopt it, or leave it
//!   out with an ignore rule.
//!
//! Each object created there and each field only on the platform comes with the `promote adopt`
//! command that takes it into the repository ([`TenantDrift::adopt`]).
//!
//! A tenant promote never applied has no last-applied record: nothing tells a change made on
//! the platform from one the repository has not applied yet, so everything that differs from
//! the repository is "not yet applied", and the tenant is never "in sync" (its [`Standing`]
//! is [`Standing::NeverApplied`]): a report that said so would vouch for a tenant promote knows
//! nothing of.
//!
//! The tenant lines and the summary count the same findings, through [`Finding::count`] and
//! [`TenantDrift::standing`]: the tenant line says how many of each a tenant has, the summary
//! how many tenants have any.

use serde::Serialize;
use serde_json::Value;

use std::collections::BTreeSet;

use crate::baseline::Live;
use crate::credentials::{self, Scope};
use crate::diagnostic::Diagnostic;
use crate::environment::Tenant;
use crate::layout;
use crate::patch::pointer;
use crate::patch::three_way::{Change, ChangeKind, Reason};
use crate::pipeline::Project;
use crate::prepare::{prepare, Desired, Policy, PreparedPlan};
use promote_platform::material;

/// One path live changed since the last apply.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Drifted {
    pub path: String,
    /// What promote applied there (absent: nothing).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub applied: Option<Value>,
    /// What the platform holds now (absent: removed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub live: Option<Value>,
    /// Whether the repository also changed it since (a conflict for the next apply).
    pub conflict: bool,
}

/// The drift of one tenant.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TenantDrift {
    pub key: String,
    pub id: String,
    /// What names the tenant on the command line, in the commands the report suggests
    /// ([`Project::name_of`]).
    #[serde(skip)]
    pub name: String,
    /// Whether promote has applied this tenant before (a last-applied record exists).
    pub applied: bool,
    /// Paths the repository owns that changed on the platform since the last apply.
    pub drifted: Vec<Drifted>,
    /// Objects (clients, workspaces, ...) created on the platform that neither the last apply
    /// nor the repository has.
    pub unmanaged: Vec<String>,
    /// Changes in the repository not applied yet.
    pub pending: Vec<Change>,
    /// Fields only live has, inside objects the repository manages (see the module docs).
    pub live_only: Vec<String>,
    /// The command that adopts each object created there and each field only on the
    /// platform (an object inside another one created there comes with it: no command of its
    /// own).
    pub adopt: Vec<Adopt>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<Diagnostic>,
}

/// What only the platform has at a path, and the command that takes it into the repository.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Adopt {
    pub path: String,
    /// `promote adopt --env E --tenant T PATH`, quoted for a POSIX shell.
    pub command: String,
}

/// What a drift report counts: each tenant line says how many of each the tenant has, the
/// summary how many tenants have any, in the same words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finding {
    /// Paths the repository owns that changed on the platform since the last apply.
    Changed,
    /// Objects created on the platform that neither the last apply nor the repository has.
    Created,
    /// Changes in the repository not applied yet.
    Pending,
    /// Fields only live has inside objects the repository manages. Shown only where some
    /// tenant has one ([`Finding::shown`]).
    LiveOnly,
}

impl Finding {
    /// Every finding, in the order reports show them.
    pub const ALL: [Finding; 4] = [
        Finding::Changed,
        Finding::Created,
        Finding::Pending,
        Finding::LiveOnly,
    ];

    /// Whether a line or a table that counts `count` of this finding shows it: all but
    /// [`Finding::LiveOnly`] always, that one only when there is some.
    pub fn shown(self, count: usize) -> bool {
        self != Finding::LiveOnly || count > 0
    }

    /// Returns the words after a count, in a tenant line and in the summary.
    pub fn label(self) -> &'static str {
        match self {
            Finding::Changed => "changed on the platform",
            Finding::Created => "created there",
            Finding::Pending => "not yet applied",
            Finding::LiveOnly => "only on the platform",
        }
    }

    /// What a tenant's count of this finding counts: paths or whole objects.
    pub fn unit(self) -> &'static str {
        match self {
            Finding::Changed | Finding::Pending => "path(s)",
            Finding::Created => "object(s)",
            Finding::LiveOnly => "field(s)",
        }
    }

    /// Returns how many of this finding tenant `t` has.
    pub fn count(self, t: &TenantDrift) -> usize {
        match self {
            Finding::Changed => t.drifted.len(),
            Finding::Created => t.unmanaged.len(),
            Finding::Pending => t.pending.len(),
            Finding::LiveOnly => t.live_only.len(),
        }
    }
}

/// Where a tenant stands as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// It could not be checked; `errors` says why.
    Error,
    /// Promote has no last-applied record of it: whatever it holds, it is not known to be in
    /// sync.
    NeverApplied,
    /// It has some [`Finding`].
    Differs,
    /// Live matches both the last apply and the repository.
    InSync,
}

impl TenantDrift {
    /// Returns where the tenant stands: the one classification the tenant line, the summary and
    /// the exit code read.
    pub fn standing(&self) -> Standing {
        if !self.errors.is_empty() {
            Standing::Error
        } else if !self.applied {
            Standing::NeverApplied
        } else if Finding::ALL.iter().any(|f| f.count(self) > 0) {
            Standing::Differs
        } else {
            Standing::InSync
        }
    }
}

/// Computes the drift of tenant `t`.
pub(crate) fn tenant(project: &Project, live: &Live, t: &Tenant) -> TenantDrift {
    let mut out = TenantDrift {
        key: t.key.clone(),
        id: t.id.clone(),
        name: project.name_of(t),
        ..TenantDrift::default()
    };
    let at = |ds: Vec<Diagnostic>| -> Vec<Diagnostic> {
        ds.into_iter()
            .map(|d| d.context(&project.env.name, Some(&t.key)))
            .collect()
    };
    let desired = match Desired::render(project, t, true) {
        Ok(desired) => desired,
        Err(e) => {
            out.errors = at(e);
            return out;
        }
    };
    let current = match live.export(t) {
        Ok(tree) => tree,
        Err(e) => {
            out.errors = at(e);
            return out;
        }
    };
    let last = match live.last_applied(t) {
        Ok(a) => a.map(|a| a.tree),
        Err(e) => {
            out.errors = at(e);
            return out;
        }
    };
    out.applied = last.is_some();
    let ignore = project.ignore(t);
    let prepared = match prepare(
        t,
        desired,
        last.as_ref(),
        &current,
        Policy::restoring(ignore),
        false,
        None,
    ) {
        Ok(p) => p,
        Err(refused) => {
            out.errors = at(vec![refused.error]);
            return out;
        }
    };
    let PreparedPlan {
        plan: planned,
        desired,
        ..
    } = prepared;
    let desired = desired.tree;
    let mut places = crate::credentials::Places::new(crate::credentials::Scope::Tenant);
    for c in planned.changes {
        match c.reason {
            // The pending change's new value is the repository's rendering.
            Reason::Desired => out.pending.push(crate::plan::redact_change(
                c,
                &mut places,
                crate::plan::Markers::Shown,
            )),
            Reason::Drift | Reason::Conflict => {
                let applied = last.as_ref().and_then(|l| l.pointer(&c.path)).cloned();
                let place = places.may_hold(&c.path);
                let hidden = crate::plan::Markers::Hidden;
                out.drifted.push(Drifted {
                    applied: crate::plan::redact_value_at(&c.path, place, applied, hidden),
                    live: crate::plan::redact_value_at(&c.path, place, c.old, hidden),
                    conflict: c.reason == Reason::Conflict,
                    path: crate::plan::shown_path(
                        crate::scrub::scrub(&c.path).into_owned(),
                        place && c.kind == ChangeKind::Remove,
                    ),
                });
            }
        }
    }
    if let Some(last) = &last {
        let entries = layout::entries(&current);
        out.unmanaged = entries
            .iter()
            .filter(|p| {
                last.pointer(p).is_none() && desired.pointer(p).is_none() && !ignore.covers(p)
            })
            .cloned()
            .collect();
        let entries: BTreeSet<String> = entries.into_iter().collect();
        live_only(
            &current,
            &desired,
            last,
            &mut Vec::new(),
            &entries,
            &mut out.live_only,
        );
        // What the rules leave alone is never drift.
        out.live_only.retain(|p| !ignore.covers(p));
    }
    // An object inside another one created there is adopted with it.
    let created: Vec<String> = out.unmanaged.iter().map(|p| format!("{p}/")).collect();
    out.adopt = out
        .unmanaged
        .iter()
        .chain(&out.live_only)
        .filter(|p| !created.iter().any(|c| p.starts_with(c.as_str())))
        // A path holding a credential promote knows is shown redacted, and adopt refuses it.
        .filter(|p| !crate::scrub::holds_known(p))
        .map(|p| Adopt {
            path: p.clone(),
            command: crate::adopt::command(&project.env.name, &out.name, &[p]),
        })
        .collect();
    for p in out.unmanaged.iter_mut().chain(out.live_only.iter_mut()) {
        *p = crate::scrub::scrub(p).into_owned();
    }
    out
}

/// Collects into `out` the fields of `live` at `at` (keys from the root) that neither
/// `desired` nor `last` has, inside objects `desired` has, leaving out whole entries
/// (`entries`, reported as created there) and what the platform maintains by itself.
fn live_only(
    live: &Value,
    desired: &Value,
    last: &Value,
    at: &mut Vec<String>,
    entries: &BTreeSet<String>,
    out: &mut Vec<String>,
) {
    let (Value::Object(live), Value::Object(desired)) = (live, desired) else {
        return;
    };
    let model = promote_platform::model::tenant();
    for (key, value) in live {
        at.push(key.clone());
        let here = pointer::from_keys(at);
        match desired.get(key) {
            Some(mine) => live_only(
                value,
                mine,
                last.get(key).unwrap_or(&Value::Null),
                at,
                entries,
                out,
            ),
            None => {
                let below = format!("{here}/");
                let holds_entries = entries.contains(&here)
                    || entries
                        .range(below.clone()..)
                        .next()
                        .is_some_and(|e| e.starts_with(&below));
                let read_only = matches!(
                    model.shape_at(&at[..at.len() - 1]),
                    Some(promote_platform::model::Shape::Object(ty)) if model.is_read_only(&ty, key)
                );
                let maintained = crate::export::VOLATILE.contains(&key.as_str())
                    || credentials::is_field_name(key)
                    || material::covering(&here, Scope::Tenant).is_some()
                    || read_only;
                if last.get(key).is_none() && !holds_entries && !maintained {
                    out.push(here);
                }
            }
        }
        at.pop();
    }
}

/// Totals of a drift report: how many tenants have each [`Finding`] and each [`Standing`].
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Totals {
    pub tenants: usize,
    /// Tenants with paths changed on the platform ([`Finding::Changed`]).
    pub drifted: usize,
    /// Tenants with objects created on the platform ([`Finding::Created`]).
    pub created: usize,
    /// Tenants with changes not yet applied ([`Finding::Pending`]).
    pub pending: usize,
    /// Tenants with fields only on the platform ([`Finding::LiveOnly`]).
    pub live_only: usize,
    /// Tenants promote never applied ([`Standing::NeverApplied`]).
    pub never_applied: usize,
    pub in_sync: usize,
    pub errors: usize,
}

impl Totals {
    /// Counts tenant `t`.
    pub(crate) fn add(&mut self, t: &TenantDrift) {
        self.tenants += 1;
        for f in Finding::ALL {
            if f.count(t) > 0 {
                *self.finding_mut(f) += 1;
            }
        }
        match t.standing() {
            Standing::Error => self.errors += 1,
            Standing::NeverApplied => self.never_applied += 1,
            Standing::InSync => self.in_sync += 1,
            Standing::Differs => {}
        }
    }

    /// Returns how many tenants have finding `f`.
    pub fn finding(&self, f: Finding) -> usize {
        match f {
            Finding::Changed => self.drifted,
            Finding::Created => self.created,
            Finding::Pending => self.pending,
            Finding::LiveOnly => self.live_only,
        }
    }

    fn finding_mut(&mut self, f: Finding) -> &mut usize {
        match f {
            Finding::Changed => &mut self.drifted,
            Finding::Created => &mut self.created,
            Finding::Pending => &mut self.pending,
            Finding::LiveOnly => &mut self.live_only,
        }
    }

    /// Returns the totals in a sentence, as the text and markdown reports end and begin:
    /// how many tenants have each finding, in the tenant lines' words.
    pub fn text(&self) -> String {
        let findings: Vec<String> = Finding::ALL
            .iter()
            .filter(|f| f.shown(self.finding(**f)))
            .map(|f| format!("{} {}", self.finding(*f), f.label()))
            .collect();
        format!(
            "{} tenant(s): {}, {} never applied, {} in sync, {} error(s)",
            self.tenants,
            findings.join(", "),
            self.never_applied,
            self.in_sync,
            self.errors
        )
    }

    /// Returns how the environment stands as a whole.
    pub fn verdict(&self) -> Verdict {
        if self.errors > 0 {
            Verdict::Errors
        } else if self.in_sync < self.tenants {
            Verdict::Differs
        } else {
            Verdict::InSync
        }
    }
}

/// How an environment stands, for the exit code of `promote drift`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Every tenant matches both the last apply and the repository.
    InSync,
    /// Some tenant changed on the platform, has changes not yet applied, or was never applied
    /// (promote cannot vouch for it).
    Differs,
    /// Some tenant could not be checked.
    Errors,
}

/// The drift of an environment's tenants: what `promote drift --output json` prints.
#[derive(Debug, Serialize)]
pub struct Report {
    pub version: u32,
    pub env: String,
    pub tenants: Vec<TenantDrift>,
    pub summary: Totals,
    /// The paths left alone (ignore rules): never reported as drift.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ignore: Vec<crate::ignore::Rule>,
}

/// Computes the drift of `tenants` of `project` against `live`, `live.concurrency` at a time,
/// handing each tenant's drift to `each` in tenant order as soon as it is known.
pub fn run(
    project: &Project,
    live: &Live,
    tenants: &[&Tenant],
    mut each: impl FnMut(&TenantDrift),
) -> Report {
    let mut report = Report {
        version: 1,
        env: project.env.name.clone(),
        tenants: Vec::with_capacity(tenants.len()),
        summary: Totals::default(),
        ignore: project.ignore_rules(tenants),
    };
    crate::parallel::ordered(
        tenants,
        live.concurrency,
        |t| crate::activity::tenant("drift", &project.env.name, t, || tenant(project, live, t)),
        |d| {
            report.summary.add(&d);
            each(&d);
            report.tenants.push(d);
        },
    );
    report
}

/// Returns the counts of tenant `t`'s findings, as its line in the report says them:
/// `1 path(s) changed on the platform, 0 object(s) created there, 2 path(s) not yet applied`; a tenant never applied
/// says so instead of counting what cannot be known without a last apply.
pub fn counts_text(t: &TenantDrift) -> String {
    if !t.applied {
        return format!(
            "never applied by promote, {} {} {}",
            Finding::Pending.count(t),
            Finding::Pending.unit(),
            Finding::Pending.label()
        );
    }
    let counts: Vec<String> = Finding::ALL
        .iter()
        .filter(|f| f.shown(f.count(t)))
        .map(|f| format!("{} {} {}", f.count(t), f.unit(), f.label()))
        .collect();
    counts.join(", ")
}

/// The text report of one tenant of `env` (nothing for a tenant in sync).
pub fn text(env: &str, t: &TenantDrift) -> String {
    use crate::report::{change_text, drifted_text};
    let mut out = match t.standing() {
        Standing::InSync => return String::new(),
        Standing::Error => format!("{} ({}): not checked\n", t.key, t.id),
        Standing::NeverApplied => format!(
            "{} ({}): {}\n  promote has no record of applying it, so a change made on the platform cannot be told from one the repository has not applied: `promote apply --env {env} --tenant {}` applies it and records what it holds\n",
            t.key,
            t.id,
            counts_text(t),
            t.name
        ),
        Standing::Differs => format!("{} ({}): {}\n", t.key, t.id, counts_text(t)),
    };
    for e in &t.errors {
        out.push_str(&format!("  error: {e}\n"));
    }
    for d in &t.drifted {
        out.push_str(&drifted_text(
            &d.path,
            d.applied.as_ref(),
            d.live.as_ref(),
            if d.conflict {
                " (the repository changed it too: a conflict)"
            } else {
                ""
            },
        ));
    }
    let adopt = |out: &mut String, p: &str| {
        if let Some(a) = t.adopt.iter().find(|a| a.path == p) {
            out.push_str(&format!(
                "    adopt it: {}\n",
                crate::diagnostic::one_line(&a.command, crate::diagnostic::MAX_MESSAGE)
            ));
        }
    };
    for p in &t.unmanaged {
        out.push_str(&format!(
            "  ! {}: created on the platform, not in the repository\n",
            crate::report::path_text(p)
        ));
        adopt(&mut out, p);
    }
    for p in &t.live_only {
        out.push_str(&format!(
            "  + {}: only on the platform, not in the repository\n",
            crate::report::path_text(p)
        ));
        adopt(&mut out, p);
    }
    if !t.pending.is_empty() {
        out.push_str("  not yet applied:\n");
        for c in &t.pending {
            out.push_str(&change_text(c, "  "));
        }
    }
    out
}

/// The markdown report (for an issue or a chat message).
pub fn markdown(env: &str, tenants: &[TenantDrift], totals: &Totals) -> String {
    use crate::report::md_escape;
    let mut out = format!("### Drift of `{}`\n\n{}\n\n", md_escape(env), totals.text());
    let shown: Vec<&TenantDrift> = tenants
        .iter()
        .filter(|t| t.standing() != Standing::InSync)
        .collect();
    if shown.is_empty() {
        return out;
    }
    let columns: Vec<Finding> = Finding::ALL
        .into_iter()
        .filter(|f| f.shown(totals.finding(*f)))
        .collect();
    out.push_str("| tenant | id |");
    for f in &columns {
        out.push_str(&format!(" {} {} |", f.unit(), f.label()));
    }
    out.push_str(" never applied |\n|---|---|");
    out.push_str(&"---:|".repeat(columns.len()));
    out.push_str("---|\n");
    for t in &shown {
        out.push_str(&format!(
            "| `{}` | `{}` |",
            md_escape(&t.key),
            md_escape(&t.id)
        ));
        for f in &columns {
            out.push_str(&format!(" {} |", f.count(t)));
        }
        out.push_str(if t.applied { " |\n" } else { " yes |\n" });
    }
    out.push('\n');
    for t in &shown {
        out.push_str(&format!(
            "<details><summary><code>{}</code></summary>\n\n```\n{}```\n\n</details>\n\n",
            md_escape(&t.key),
            text(env, t).replace("```", "'''")
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::patch::three_way::ChangeKind;

    fn tenant(
        key: &str,
        applied: bool,
        drifted: usize,
        created: usize,
        pending: usize,
    ) -> TenantDrift {
        TenantDrift {
            key: key.into(),
            id: format!("{key}-prod"),
            name: key.into(),
            applied,
            drifted: (0..drifted)
                .map(|i| Drifted {
                    path: format!("/settings/d{i}"),
                    applied: Some(Value::from(1)),
                    live: Some(Value::from(2)),
                    conflict: false,
                })
                .collect(),
            unmanaged: (0..created)
                .map(|i| format!("/servers/default/clients/c{i}"))
                .collect(),
            pending: (0..pending)
                .map(|i| Change {
                    path: format!("/settings/p{i}"),
                    kind: ChangeKind::Add,
                    old: None,
                    new: Some(Value::from(i)),
                    reason: Reason::Desired,
                })
                .collect(),
            live_only: Vec::new(),
            adopt: Vec::new(),
            errors: Vec::new(),
        }
    }

    /// The number the tenant's line gives before the unit and `label` (0 without a line: in
    /// sync).
    fn line_count(text: &str, label: &str) -> usize {
        let line = text.lines().next().unwrap_or_default();
        let found = ["path(s)", "object(s)"]
            .iter()
            .find_map(|unit| line.split_once(&format!(" {unit} {label}")));
        match found {
            Some((before, _)) => before.rsplit([' ', ',']).next().unwrap().parse().unwrap(),
            None => 0,
        }
    }

    #[test]
    fn the_summary_counts_the_tenants_with_each_finding_the_lines_show() {
        let tenants = [
            // The case of the issue: one path changed and one object created on the platform.
            tenant("acme", true, 1, 1, 0),
            tenant("globex", true, 0, 2, 0),
            tenant("initech", true, 0, 0, 3),
            tenant("umbrella", true, 0, 0, 0),
        ];
        let mut totals = Totals::default();
        tenants.iter().for_each(|t| totals.add(t));
        for f in Finding::ALL {
            let with = tenants
                .iter()
                .filter(|t| line_count(&text("prod", t), f.label()) > 0)
                .count();
            assert_eq!(totals.finding(f), with, "{}", f.label());
        }
        assert_eq!(
            text("prod", &tenants[0]).lines().next(),
            Some("acme (acme-prod): 1 path(s) changed on the platform, 1 object(s) created there, 0 path(s) not yet applied")
        );
        assert_eq!(
            totals.text(),
            "4 tenant(s): 1 changed on the platform, 2 created there, 1 not yet applied, 0 never applied, 1 in sync, 0 error(s)"
        );
        assert_eq!(totals.verdict(), Verdict::Differs);
    }

    /// Regression: a changed policy was printed as two whole escaped JSON strings on one
    /// line (`applied "package …\n…", now "…"`); it is the line diff plan shows.
    #[test]
    fn a_changed_multi_line_value_is_a_line_diff() {
        let old: String = (1..=40)
            .map(|i| format!("rule_{i} if input.n < {i}\n"))
            .collect();
        let new = old.replace("rule_20 if input.n < 20", "rule_20 if input.n < 2000");
        let mut t = tenant("acme", true, 1, 0, 0);
        t.drifted[0] = Drifted {
            path: "/policies/p/definition".to_owned(),
            applied: Some(Value::from(old)),
            live: Some(Value::from(new)),
            conflict: true,
        };
        console::set_colors_enabled(false);
        let out = text("prod", &t);
        assert!(out.contains("  ! /policies/p/definition: changed on the platform (the repository changed it too: a conflict), from what was applied:\n    ~ /policies/p/definition: (41 line(s))\n      @@ -18,5 +18,5 @@\n"), "{out}");
        assert!(out.contains("\n      - rule_20 if input.n < 20\n"), "{out}");
        assert!(
            out.contains("\n      + rule_20 if input.n < 2000\n"),
            "{out}"
        );
        assert!(!out.contains("\\n"), "{out}");
        // Short values stay on one line.
        let short = text("prod", &tenant("acme", true, 1, 0, 0));
        assert!(
            short.contains("  ! /settings/d0: applied 1, now 2\n"),
            "{short}"
        );
    }

    #[test]
    fn a_tenant_never_applied_is_not_in_sync_even_when_it_matches() {
        let matches = tenant("acme", false, 0, 0, 0);
        assert_eq!(matches.standing(), Standing::NeverApplied);
        let line = text("prod", &matches);
        assert!(
            line.starts_with(
                "acme (acme-prod): never applied by promote, 0 path(s) not yet applied\n"
            ),
            "{line}"
        );
        assert!(
            line.contains("`promote apply --env prod --tenant acme`"),
            "{line}"
        );
        let mut totals = Totals::default();
        totals.add(&matches);
        totals.add(&tenant("globex", true, 0, 0, 0));
        assert_eq!((totals.never_applied, totals.in_sync), (1, 1));
        assert_eq!(totals.verdict(), Verdict::Differs);
        assert!(markdown("prod", &[matches], &totals)
            .contains("| `acme` | `acme-prod` | 0 | 0 | 0 | yes |"));
    }

    #[test]
    fn fields_only_live_has_leave_out_what_the_platform_maintains() {
        let live = serde_json::json!({"servers": {"w": {"clients": {
            "c": {
                "client_name": "C",
                "metadata": {"owner": "ops"},
                "updated_at": "2026-01-01T00:00:00Z",
                "hashed_secret": "h",
                "application_types": ["web"],
                "note": "the repository removed it"
            },
            "new": {"client_name": "N"}
        }}}});
        let desired = serde_json::json!({"servers": {"w": {"clients": {"c": {"client_name": "C", "metadata": {}}}}}});
        let last = serde_json::json!({"servers": {"w": {"clients": {"c": {"note": "applied"}}}}});
        let entries: BTreeSet<String> = layout::entries(&live).into_iter().collect();
        let mut out = Vec::new();
        live_only(&live, &desired, &last, &mut Vec::new(), &entries, &mut out);
        assert_eq!(out, ["/servers/w/clients/c/metadata/owner"]);
        let mut t = tenant("acme", true, 0, 0, 0);
        t.live_only = out;
        let line = text("prod", &t);
        assert!(
            line.starts_with("acme (acme-prod): 0 path(s) changed on the platform, 0 object(s) created there, 0 path(s) not yet applied, 1 field(s) only on the platform\n"),
            "{line}"
        );
        assert_eq!(t.standing(), Standing::Differs);
    }

    #[test]
    fn a_tenant_that_could_not_be_checked_is_an_error_not_a_difference() {
        let mut t = tenant("acme", false, 0, 0, 0);
        t.errors
            .push(Diagnostic::new("cannot export tenant `acme-prod`"));
        assert_eq!(t.standing(), Standing::Error);
        let mut totals = Totals::default();
        totals.add(&t);
        assert_eq!((totals.errors, totals.never_applied), (1, 0));
        assert_eq!(totals.verdict(), Verdict::Errors);
    }
}

//! Drift: how live tenants differ from what promote last applied and from the repository.
//!
//! Per tenant, from the same three trees as a plan (last-applied, desired, live):
//!
//! - **changed on the platform**: paths the repository owns whose live value is no longer the
//!   one promote applied (the plan's `drift` and `conflict` changes), and objects created on the
//!   platform that neither the last apply nor the repository has;
//! - **not yet applied**: what the repository changed since the last apply.
//!
//! A tenant promote never applied has no last-applied record: everything that differs from the
//! repository is "not yet applied".

use serde::Serialize;
use serde_json::Value;

use crate::baseline::Live;
use crate::diagnostic::Diagnostic;
use crate::environment::Tenant;
use crate::layout;
use crate::patch::three_way::{Change, Mode, Reason};
use crate::pipeline::Project;
use crate::prepare::{prepare, Desired, PreparedPlan};

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
    /// Whether promote has applied this tenant before (a last-applied record exists).
    pub applied: bool,
    /// Paths the repository owns that changed on the platform since the last apply.
    pub drifted: Vec<Drifted>,
    /// Objects (clients, workspaces, ...) created on the platform that neither the last apply
    /// nor the repository has.
    pub unmanaged: Vec<String>,
    /// Changes in the repository not applied yet.
    pub pending: Vec<Change>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<Diagnostic>,
}

impl TenantDrift {
    /// Whether live was changed behind promote's back.
    pub(crate) fn has_drift(&self) -> bool {
        !self.drifted.is_empty() || !self.unmanaged.is_empty()
    }

    /// Whether live matches both the last apply and the repository.
    pub(crate) fn in_sync(&self) -> bool {
        !self.has_drift() && self.pending.is_empty() && self.errors.is_empty()
    }
}

/// Computes the drift of tenant `t`.
pub(crate) fn tenant(project: &Project, live: &Live, t: &Tenant) -> TenantDrift {
    let mut out = TenantDrift {
        key: t.key.clone(),
        id: t.id.clone(),
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
    let prepared = match prepare(
        t,
        desired,
        last.as_ref(),
        &current,
        Mode::Update,
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
    for c in planned.changes {
        match c.reason {
            Reason::Desired => out.pending.push(crate::plan::redact_change(c)),
            Reason::Drift | Reason::Conflict => {
                let applied = last.as_ref().and_then(|l| l.pointer(&c.path)).cloned();
                out.drifted.push(Drifted {
                    applied: crate::plan::redact_value(&c.path, applied),
                    live: crate::plan::redact_value(&c.path, c.old),
                    conflict: c.reason == Reason::Conflict,
                    path: c.path,
                });
            }
        }
    }
    if let Some(last) = &last {
        out.unmanaged = layout::entries(&current)
            .into_iter()
            .filter(|p| last.pointer(p).is_none() && desired.pointer(p).is_none())
            .collect();
    }
    out
}

/// Totals of a drift report.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Totals {
    pub tenants: usize,
    pub drifted: usize,
    pub pending: usize,
    pub in_sync: usize,
    pub errors: usize,
}

impl Totals {
    /// Counts tenant `t`.
    pub(crate) fn add(&mut self, t: &TenantDrift) {
        self.tenants += 1;
        if !t.errors.is_empty() {
            self.errors += 1;
        } else if t.in_sync() {
            self.in_sync += 1;
        }
        if t.has_drift() {
            self.drifted += 1;
        }
        if !t.pending.is_empty() {
            self.pending += 1;
        }
    }
}

impl Totals {
    /// Returns the totals in a sentence, as the text and markdown reports end and begin.
    pub fn text(&self) -> String {
        format!(
            "{} tenant(s): {} changed on the platform, {} with changes not yet applied, {} in sync, {} error(s)",
            self.tenants, self.drifted, self.pending, self.in_sync, self.errors
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
    /// Some tenant changed on the platform or has changes not yet applied.
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
    };
    crate::parallel::ordered(
        tenants,
        live.concurrency,
        |t| tenant(project, live, t),
        |d| {
            report.summary.add(&d);
            each(&d);
            report.tenants.push(d);
        },
    );
    report
}

/// The text report of one tenant (nothing for a tenant in sync).
pub fn text(t: &TenantDrift) -> String {
    use crate::report::{change_line, value_text};
    if t.in_sync() {
        return String::new();
    }
    let mut out = format!(
        "{} ({}): {} changed on the platform, {} object(s) created there, {} not yet applied{}\n",
        t.key,
        t.id,
        t.drifted.len(),
        t.unmanaged.len(),
        t.pending.len(),
        if t.applied {
            ""
        } else {
            " (never applied by promote)"
        }
    );
    for e in &t.errors {
        out.push_str(&format!("  error: {e}\n"));
    }
    for d in &t.drifted {
        let show = |v: &Option<Value>| v.as_ref().map_or("(absent)".to_owned(), value_text);
        out.push_str(&format!(
            "  ! {}: applied {}, now {}{}\n",
            crate::report::path_text(&d.path),
            show(&d.applied),
            show(&d.live),
            if d.conflict {
                " (the repository changed it too: a conflict)"
            } else {
                ""
            }
        ));
    }
    for p in &t.unmanaged {
        out.push_str(&format!(
            "  ! {p}: created on the platform, not in the repository\n"
        ));
    }
    if !t.pending.is_empty() {
        out.push_str("  not yet applied:\n");
        for c in &t.pending {
            out.push_str(&format!("  {}\n", change_line(c)));
        }
    }
    out
}

/// The markdown report (for an issue or a chat message).
pub fn markdown(env: &str, tenants: &[TenantDrift], totals: &Totals) -> String {
    use crate::report::md_escape;
    let mut out = format!("### Drift of `{}`\n\n{}\n\n", md_escape(env), totals.text());
    let shown: Vec<&TenantDrift> = tenants.iter().filter(|t| !t.in_sync()).collect();
    if shown.is_empty() {
        return out;
    }
    out.push_str("| tenant | id | changed on the platform | created there | not yet applied |\n|---|---|---:|---:|---:|\n");
    for t in &shown {
        out.push_str(&format!(
            "| `{}` | `{}` | {} | {} | {} |\n",
            md_escape(&t.key),
            md_escape(&t.id),
            t.drifted.len(),
            t.unmanaged.len(),
            t.pending.len()
        ));
    }
    out.push('\n');
    for t in &shown {
        out.push_str(&format!(
            "<details><summary><code>{}</code></summary>\n\n```\n{}```\n\n</details>\n\n",
            md_escape(&t.key),
            text(t).replace("```", "'''")
        ));
    }
    out
}

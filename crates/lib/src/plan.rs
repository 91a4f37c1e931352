//! Plan: per tenant, desired against a baseline → changes, conflicts and the wire patch.
//!
//! Each tenant is rendered, validated and diffed on its own in a rayon batch, and only its
//! small result is kept, so memory stays flat however large the fleet. Every value a plan
//! shows, and every patch it carries, has its credentials redacted.

use serde::Serialize;
use serde_json::Value;

use crate::baseline::Baseline;
use crate::diagnostic::Diagnostic;
use crate::environment::Tenant;
use crate::ignore::Rule;
use crate::patch::three_way::{DriftPolicy, Mode};
use crate::pipeline::Project;
use crate::prepare::{prepare, Desired, Policy};
use crate::saved::SavedChange;

pub mod tenant;

pub(crate) use tenant::{redact_change, redact_value, redact_value_at, shown_path, Markers};
pub use tenant::{redact_patch_body, Counts, Outcome, Status, TenantPlan};

/// The version of the shape of plan and apply reports in JSON. 2: a tenant's `patch` is what
/// is sent, with the workspaces it creates under `workspaces` (imported whole after the
/// patch) instead of inside the patch.
pub const REPORT_VERSION: u32 = 2;

/// What a plan is about: the header of a report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Header {
    /// Version of the report's shape.
    pub version: u32,
    pub env: String,
    pub against: String,
    pub mode: Mode,
    /// `apply` or `apply (dry run)` in an apply report; absent in a plan report.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    /// What the plan does with drift (`--drift`); absent when it restores it (the default).
    #[serde(skip_serializing_if = "DriftPolicy::is_restore")]
    pub drift: DriftPolicy,
    /// The paths the plan leaves alone (ignore rules), so that a reviewer sees them; absent
    /// when there is none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ignore: Vec<Rule>,
}

impl Header {
    /// Returns the lines a report's header adds under its title, as plain text (keys quoted on
    /// one line; each report escapes them for its format): the drift policy when it keeps
    /// drift, and every ignore rule with where it is written and why.
    pub fn policy_lines(&self) -> Vec<String> {
        let mut lines = Vec::new();
        if self.drift == DriftPolicy::Keep {
            lines.push("drift: keep (paths the platform changed and the repository did not since the last apply keep the platform's value)".to_owned());
        }
        lines.extend(crate::ignore::lines(&self.ignore));
        lines
    }
}

/// Totals over the tenants of a report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub tenants: usize,
    pub unchanged: usize,
    pub with_changes: usize,
    pub errors: usize,
    pub conflicts: usize,
    /// The changes of the tenants with changes; in an apply report, those applied.
    pub changes: Counts,
    /// Tenants that took part of their change (apply reports; also counted in `with_changes`
    /// and `errors`).
    #[serde(skip_serializing_if = "is_zero")]
    pub partly_applied: usize,
    /// The whole objects the plan removes (plan reports only): applying them needs
    /// `--allow-delete`.
    #[serde(skip_serializing_if = "is_zero")]
    pub objects_removed: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl Summary {
    /// Counts one tenant's plan in.
    pub fn add(&mut self, p: &TenantPlan) {
        self.tenants += 1;
        match p.status {
            Status::Unchanged => self.unchanged += 1,
            Status::Changes | Status::Create => self.with_changes += 1,
            Status::Error => self.errors += 1,
        }
        self.conflicts += p.conflicts.len();
        if p.outcome.is_none() {
            self.objects_removed += p.removes.len();
        }
        match p.outcome {
            // Nothing of a failed tenant's plan was applied.
            Some(Outcome::Failed) => {}
            Some(Outcome::PartlyApplied) => {
                self.partly_applied += 1;
                self.errors += 1;
                self.changes = self.changes.plus(p.counts);
            }
            _ => self.changes = self.changes.plus(p.counts),
        }
    }

    /// Whether any tenant changes.
    pub fn has_changes(&self) -> bool {
        self.with_changes > 0
    }

    /// Whether any tenant failed.
    pub fn has_errors(&self) -> bool {
        self.errors > 0
    }
}

/// Plans `tenants` of `project` against `baseline` (conflicts resolved by `mode`, drift
/// restored or kept by `drift`, each tenant's ignore rules honoured), handing each tenant's plan to `each` in
/// tenant order as soon as it is done, and returns the totals. Tenants are planned in parallel
/// ([`crate::parallel::ordered`]) with only a few results per thread held at a time: memory stays
/// flat however large the fleet.
pub fn plan(
    project: &Project,
    tenants: &[&Tenant],
    baseline: &Baseline,
    (mode, drift): (Mode, DriftPolicy),
    mut each: impl FnMut(TenantPlan),
) -> Summary {
    run(project, tenants, baseline, (mode, drift), false, |p, _| {
        each(p)
    })
}

/// [`plan`], also handing on, when `save`, what each tenant's plan sends as a saved plan holds
/// it ([`SavedChange`]; `None` when it sends nothing, could not be planned, or not `save`),
/// with `secret()` markers where apply supplies credentials. Saving is against a live
/// baseline only.
pub fn plan_to_save(
    project: &Project,
    tenants: &[&Tenant],
    baseline: &Baseline,
    policy: (Mode, DriftPolicy),
    save: bool,
    each: impl FnMut(TenantPlan, Option<SavedChange>),
) -> Summary {
    run(project, tenants, baseline, policy, save, each)
}

fn run(
    project: &Project,
    tenants: &[&Tenant],
    baseline: &Baseline,
    (mode, drift): (Mode, DriftPolicy),
    save: bool,
    mut each: impl FnMut(TenantPlan, Option<SavedChange>),
) -> Summary {
    // Live baselines wait on the network: as many threads as the environment's concurrency.
    let threads = match baseline {
        Baseline::Live(live) => live.concurrency,
        _ => rayon::current_num_threads(),
    };
    let mut summary = Summary::default();
    crate::parallel::ordered(
        tenants,
        threads,
        |t| {
            crate::activity::tenant("plan", &project.env.name, t, || {
                let policy = Policy {
                    mode,
                    drift,
                    ignore: project.ignore(t),
                };
                plan_tenant(project, t, baseline, policy, save)
            })
        },
        |(p, saved)| {
            summary.add(&p);
            each(p, saved);
        },
    );
    summary
}

fn plan_tenant(
    project: &Project,
    tenant: &Tenant,
    baseline: &Baseline,
    policy: Policy<'_>,
    save: bool,
) -> (TenantPlan, Option<SavedChange>) {
    let mut out = TenantPlan::empty(tenant);
    let context = |d: Diagnostic| d.context(&project.env.name, Some(&tenant.key));
    // Exports carry no credentials and the repository only markers: compare without them.
    // A directory baseline is read against a tenant of a pattern in place: what it holds alike
    // is never built.
    let rendered = match baseline {
        Baseline::Dir(_) => Desired::render_in_place(project, tenant),
        _ => Desired::render(project, tenant, matches!(baseline, Baseline::Live(_)))
            .map(Desired::in_place),
    };
    let (mut in_place, references) = match rendered {
        Ok(rendered) => rendered,
        Err(errors) => {
            out.errors = errors;
            return (out, None);
        }
    };
    // What a directory baseline holds alike with the desired tree is taken out of both.
    let base = match baseline.tenant(tenant, &mut in_place) {
        Ok(base) => base,
        Err(errors) => {
            out.errors = errors.into_iter().map(context).collect();
            return (out, None);
        }
    };
    let desired = Desired::validated(in_place.into_value(), references);
    let create = base.is_none();
    let (last_applied, live) = match base {
        Some(b) => (b.last_applied, b.live),
        None => (None, Value::Object(serde_json::Map::new())),
    };
    let last_applied = last_applied.as_ref();
    let prepared = if save {
        // A saved plan holds the `secret()` markers apply resolves when it sends it.
        let markers: crate::prepare::Supply<'_> = &crate::apply::supply_markers;
        prepare(
            tenant,
            desired,
            last_applied,
            &live,
            policy,
            create,
            Some(markers),
        )
        .map(|prepared| {
            let saved = SavedChange::new(&prepared, &live, policy.ignore);
            (saved, prepared.report)
        })
    } else {
        crate::prepare::report(tenant, (desired, last_applied, &live), policy, create)
            .map(|report| (None, report))
    };
    match prepared {
        Ok((saved, mut report)) => {
            // Where apply will supply credentials is an apply report's to say.
            report.secrets.clear();
            (report, saved)
        }
        Err(refused) => {
            let mut out = refused.report;
            out.status = Status::Error;
            out.errors = vec![context(refused.error)];
            (out, None)
        }
    }
}

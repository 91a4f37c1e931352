//! Applying a set of tenants of one environment: each tenant in parallel through
//! [`super::tenant`], results in tenant order, then one commit on `refs/promote/state` for the
//! tenants that succeeded. `promote apply` and `promote ci --apply` both run this.

use std::path::Path;

use anyhow::Result;

use super::{Options, TenantApply};
use crate::baseline::Live;
use crate::environment::Tenant;
use crate::pipeline::Project;
use crate::plan::{Outcome, Summary};
use crate::state;

/// What applying a set of tenants did.
#[derive(Debug)]
pub struct Applied {
    pub summary: Summary,
    /// Tenants that failed.
    pub failed: usize,
    /// The state commit, if one was made; an error when recording failed (the changes were
    /// sent all the same).
    pub recorded: Result<Option<git2::Oid>>,
}

/// Applies `tenants` of `project`, handing each result to `each` in tenant order as soon as it
/// is there, then records what was applied in the state of `repo`. Without `--dry-run`, an
/// apply of a commit that changed nothing is recorded too (as a commit with no change to the
/// tree) when every tenant succeeded and [`Options::complete`]: promotion gates then know that
/// commit reached `env`.
pub fn run(
    repo: &Path,
    project: &Project,
    live: &Live,
    tenants: &[&Tenant],
    options: &Options,
    mut each: impl FnMut(&TenantApply),
) -> Result<Applied> {
    let env = &project.env.name;
    // Records go to git's object database as tenants finish; the commit comes at the end.
    let mut recorder = if options.dry_run {
        None
    } else {
        Some(state::Recorder::new(repo, env)?)
    };
    let mut record_error = None;
    let mut lines = Vec::new();
    let mut summary = Summary::default();
    let mut failed = 0usize;
    crate::parallel::ordered(
        tenants,
        live.concurrency,
        |t| super::tenant(project, live, t, options),
        |result: TenantApply| {
            let r = &result.report;
            summary.add(r);
            if r.outcome == Some(Outcome::Failed) {
                failed += 1;
            }
            if let Some(record) = &result.record {
                if r.outcome == Some(Outcome::Applied) {
                    lines.push(format!(
                        "{} ({}): +{} ~{} -{}",
                        r.key, r.id, r.counts.add, r.counts.replace, r.counts.remove
                    ));
                }
                if let Some(rec) = recorder.as_mut() {
                    if let Err(e) = rec.add(&r.key, record) {
                        record_error.get_or_insert(e);
                    }
                }
            }
            each(&result);
        },
    );
    let recorded = match (record_error, recorder) {
        (Some(e), _) => Err(e),
        (None, Some(rec)) => {
            // A clean apply of a new source commit is worth a record even with no change.
            let verified = failed == 0
                && options.complete
                && options
                    .source
                    .as_deref()
                    .is_some_and(|s| !state::recorded_source(repo, env, s));
            if rec.is_empty() && !verified {
                return Ok(Applied {
                    summary,
                    failed,
                    recorded: Ok(None),
                });
            }
            let message = state::message(env, &lines, options.source.as_deref());
            rec.commit(&message, verified)
        }
        (None, None) => Ok(None),
    };
    Ok(Applied {
        summary,
        failed,
        recorded,
    })
}

//! Applying a set of tenants of one environment, in two steps. [`plan`] renders and plans
//! every tenant once ([`super::plan`]), in parallel, and keeps the plans that send something
//! (and the small reports of the others) until [`send`] sends them ([`super::send`]), in
//! parallel, hands each result on in tenant order, and makes one commit on
//! `refs/promote/state` for the tenants that succeeded. Between the two, `promote apply`
//! refuses a repository with an invalid tenant and asks for consent; `promote ci --apply` runs
//! both at once ([`run`]).
//!
//! Memory stays bounded however large the fleet: the plans held between the steps take about
//! [`HELD_BYTES`] at most; a plan past that budget is dropped and made again (rendered a
//! second time) when it is sent.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use super::{Options, Planned, TenantApply};
use crate::baseline::Live;
use crate::diagnostic::{Diagnostic, Result};
use crate::environment::Tenant;
use crate::pipeline::Project;
use crate::plan::{Outcome, Summary};
use crate::prepare::Desired;
use crate::saved::{SavedChange, SavedTenant};
use crate::state;

/// About how many bytes the plans held between planning and sending may take (each holds its
/// desired tree as compact JSON, and its patch); past it, a plan is made again when it is
/// sent, which costs a second render. 128 MiB holds the plans of about 2,000 tenants of 60 KB
/// of JSON each. An apply of 300 such tenants, every one changed, peaked at 208 MiB (171 MiB
/// before plans were held, 289 MiB when they held their trees as values).
pub(crate) const HELD_BYTES: usize = 128 << 20;

/// The tenants of an apply, planned, in tenant order. Only the plans that send something hold
/// their trees (the desired tree, the changes and what is sent); the others hold a report.
#[derive(Debug)]
pub struct Plans {
    planned: Vec<Slot>,
}

/// One tenant between planning and sending.
// One slot a tenant, most of them `Planned`: boxing would add an allocation a tenant.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
enum Slot {
    Planned(Planned),
    /// A plan with something to send that was not held (the held plans had reached
    /// [`HELD_BYTES`]): it is made again when it is sent.
    Again,
    /// A saved plan's change, with the desired tree rendered again from the plan's commit:
    /// sent exactly as the plan file says ([`super::send_saved`]).
    Saved(Box<SavedSlot>),
}

/// A saved plan's change of one tenant, held until it is sent.
#[derive(Debug)]
struct SavedSlot {
    change: SavedChange,
    /// The desired tree rendered again from the plan's commit: what is recorded.
    desired: Desired,
    /// The report of the change, as a prompt shows it before the apply.
    report: crate::plan::TenantPlan,
}

impl Plans {
    /// Whether applying the plans sends anything to the platform.
    pub fn sends(&self) -> bool {
        self.planned.iter().any(|slot| {
            matches!(
                slot,
                Slot::Planned(Planned::Ready(_)) | Slot::Again | Slot::Saved(_)
            )
        })
    }

    /// The report of each tenant's plan, in tenant order (what a prompt shows before the
    /// apply); `None` for a tenant whose plan was not held and is made again when it is sent.
    pub fn reports(&self) -> impl Iterator<Item = Option<&crate::plan::TenantPlan>> {
        self.planned.iter().map(|slot| match slot {
            Slot::Planned(Planned::Invalid(done) | Planned::Done(done)) => Some(&done.report),
            Slot::Planned(Planned::Ready(ready)) => Some(ready.report()),
            Slot::Again => None,
            Slot::Saved(saved) => Some(&saved.report),
        })
    }

    /// The plans of a saved plan file's `saved` tenants (in the order of `tenants`, which
    /// `project`, loaded from the plan's commit, names by the file's keys): each tenant's
    /// desired tree is rendered again and checked against the digest the file holds, and a
    /// tenant whose rendering differs is refused alone.
    pub fn saved(project: &Project, tenants: &[&Tenant], saved: Vec<SavedTenant>) -> Plans {
        let env = &project.env.name;
        let work: Vec<(&Tenant, Mutex<Option<SavedTenant>>)> = tenants
            .iter()
            .copied()
            .zip(saved.into_iter().map(|s| Mutex::new(Some(s))))
            .collect();
        let mut planned = Vec::with_capacity(work.len());
        crate::parallel::ordered(
            &work,
            rayon::current_num_threads(),
            |(t, saved)| {
                let taken = saved.lock().map(|mut s| s.take()).unwrap_or_default();
                let Some(change) = taken.and_then(|s| s.change) else {
                    let mut report = crate::plan::TenantPlan::empty(t);
                    report.status = crate::plan::Status::Unchanged;
                    report.outcome = Some(Outcome::Unchanged);
                    return Slot::Planned(Planned::Done(TenantApply {
                        report,
                        record: None,
                    }));
                };
                let failed = |e: Vec<Diagnostic>| {
                    Slot::Planned(Planned::Done(super::failed(
                        env,
                        t,
                        crate::plan::TenantPlan::empty(t),
                        e,
                    )))
                };
                let desired = match Desired::render(project, t, true) {
                    Ok(desired) => desired.without_material(project.ignore(t)),
                    Err(e) => return failed(e),
                };
                if crate::saved::hex_digest(&desired.tree) != change.desired_sha1 {
                    return failed(vec![Diagnostic::new(
                        "the plan's commit no longer renders the desired tree the saved plan was made from (a template reads something outside the commit, or the plan file was edited); nothing was sent to this tenant",
                    )
                    .hint("plan again (`promote plan --save`) and apply that plan")]);
                }
                if let Err(why) = crate::saved::verify::check(&change, &desired.tree) {
                    return failed(vec![Diagnostic::new(format!(
                        "the plan file does not send what it was planned to: {why} (an edited plan file); nothing was sent to this tenant"
                    ))
                    .hint("apply a plan file as `promote plan --save` wrote it; plan again if in doubt")]);
                }
                // The report as the file says; its markers are resolved only when it is sent.
                match change
                    .clone()
                    .prepared(t, Desired::tree(serde_json::Value::Null), |v| Ok(v.clone()))
                {
                    Ok(preview) => Slot::Saved(Box::new(SavedSlot {
                        change,
                        desired,
                        report: preview.report,
                    })),
                    Err(d) => failed(vec![d]),
                }
            },
            |slot| planned.push(slot),
        );
        Plans { planned }
    }

    /// The errors of the tenants that do not render or validate: with any, nothing of the run
    /// may be applied.
    pub fn invalid(&self) -> Vec<Diagnostic> {
        self.planned
            .iter()
            .filter_map(|p| match p {
                Slot::Planned(Planned::Invalid(done)) => Some(done.report.errors.iter().cloned()),
                _ => None,
            })
            .flatten()
            .collect()
    }
}

/// Renders and plans `tenants` of `project` against `live`, each once, calling `progress` as
/// each is done.
pub fn plan(
    project: &Project,
    live: &Live,
    tenants: &[&Tenant],
    options: &Options,
    progress: impl FnMut(),
) -> Plans {
    plan_within(project, live, tenants, options, HELD_BYTES, progress)
}

/// [`plan`], holding plans of at most `budget` bytes.
fn plan_within(
    project: &Project,
    live: &Live,
    tenants: &[&Tenant],
    options: &Options,
    budget: usize,
    mut progress: impl FnMut(),
) -> Plans {
    let mut planned = Vec::with_capacity(tenants.len());
    let mut held = 0usize;
    // Once the budget is spent, the tenants not planned yet are only rendered and validated
    // (an invalid tenant still stops the whole apply); they are planned when they are sent.
    let spent = AtomicBool::new(false);
    crate::parallel::ordered(
        tenants,
        live.concurrency,
        |t| {
            if spent.load(Ordering::Relaxed) {
                match project.desired(t) {
                    Ok(_) => Slot::Again,
                    Err(e) => Slot::Planned(Planned::Invalid(super::failed(
                        &project.env.name,
                        t,
                        crate::plan::TenantPlan::empty(t),
                        e,
                    ))),
                }
            } else {
                Slot::Planned(super::plan(project, live, t, options))
            }
        },
        |slot| {
            progress();
            let slot = match slot {
                Slot::Planned(Planned::Ready(ready)) => {
                    held += ready.held_bytes();
                    if held > budget {
                        spent.store(true, Ordering::Relaxed);
                        Slot::Again
                    } else {
                        Slot::Planned(Planned::Ready(ready))
                    }
                }
                other => other,
            };
            planned.push(slot);
        },
    );
    Plans { planned }
}

/// Plans and sends `tenants` at once ([`plan`], then [`send`]); a tenant that does not render
/// fails alone.
pub(crate) fn run(
    repo: &Path,
    project: &Project,
    live: &Live,
    tenants: &[&Tenant],
    options: &Options,
    each: impl FnMut(&TenantApply),
) -> Result<FleetReport> {
    let plans = plan(project, live, tenants, options, || {});
    send(repo, project, live, tenants, plans, options, each)
}

/// What applying a set of tenants did.
#[derive(Debug)]
pub struct FleetReport {
    pub summary: Summary,
    /// Tenants that failed or took only part of their change.
    pub failed: usize,
    /// The state commit, if one was made; an error when recording failed (the changes were
    /// sent all the same).
    pub recorded: Result<Option<git2::Oid>>,
}

/// Sends the `plans` of `tenants` (as [`plan`] made them), handing each result to `each` in
/// tenant order as soon as it is there, then records what was applied in the state of `repo`. Without `--dry-run`, an
/// apply of a commit that changed nothing is recorded too (as a commit with no change to the
/// tree) when every tenant succeeded and [`Options::complete`]: promotion gates then know that
/// commit reached `env`.
pub fn send(
    repo: &Path,
    project: &Project,
    live: &Live,
    tenants: &[&Tenant],
    plans: Plans,
    options: &Options,
    mut each: impl FnMut(&TenantApply),
) -> Result<FleetReport> {
    let env = &live.env;
    // Records go to git's object database as tenants finish; the commit comes at the end.
    let mut recorder = if options.dry_run {
        None
    } else {
        Some(state::Recorder::new(repo, env)?)
    };
    let mut record_error = None;
    let mut lines = Vec::new();
    let mut recorded_lines = Vec::new();
    let mut summary = Summary::default();
    let mut failed = 0usize;
    // Each plan is taken by the thread that sends it: it leaves memory as soon as it is sent.
    let work: Vec<(&Tenant, Mutex<Option<Slot>>)> = tenants
        .iter()
        .copied()
        .zip(plans.planned.into_iter().map(|p| Mutex::new(Some(p))))
        .collect();
    crate::parallel::ordered(
        &work,
        live.concurrency,
        |(t, planned)| {
            crate::activity::tenant("apply", env, t, || {
                let taken = planned.lock().map(|mut p| p.take()).unwrap_or_default();
                match taken {
                    Some(Slot::Planned(Planned::Ready(ready))) => {
                        super::send(live, (t, project.ignore(t)), *ready, options)
                    }
                    Some(Slot::Planned(Planned::Done(done) | Planned::Invalid(done))) => done,
                    Some(Slot::Again) => super::plan_and_send(project, live, t, options),
                    Some(Slot::Saved(saved)) => {
                        let SavedSlot {
                            change, desired, ..
                        } = *saved;
                        super::send_saved(live, t, change, desired, options)
                    }
                    // Each slot is taken once, by the one thread that works on it; a thread that
                    // panicked holding the lock leaves it poisoned.
                    None => super::failed(
                        env,
                        t,
                        crate::plan::TenantPlan::empty(t),
                        vec![Diagnostic::new(
                            "the tenant's plan was lost (a thread failed); nothing was sent to it",
                        )],
                    ),
                }
            })
        },
        |result: TenantApply| {
            let r = &result.report;
            summary.add(r);
            if matches!(r.outcome, Some(Outcome::Failed | Outcome::PartlyApplied)) {
                failed += 1;
            }
            if let Some(record) = &result.record {
                if matches!(r.outcome, Some(Outcome::Applied | Outcome::PartlyApplied)) {
                    lines.push(format!(
                        "{} ({}): +{} ~{} -{}",
                        r.key, r.id, r.counts.add, r.counts.replace, r.counts.remove
                    ));
                } else if r.outcome == Some(Outcome::Unchanged) {
                    // A record that changes with nothing sent: the platform already held what
                    // the repository says (an earlier run sent it and was stopped before it
                    // recorded it, or someone made the same change by hand).
                    recorded_lines.push(format!(
                        "{} ({}): recorded; the platform already held it",
                        r.key, r.id
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
                return Ok(FleetReport {
                    summary,
                    failed,
                    recorded: Ok(None),
                });
            }
            let message = state::message(env, &lines, &recorded_lines, options.source.as_deref());
            rec.commit(&message, verified)
        }
        (None, None) => Ok(None),
    };
    Ok(FleetReport {
        summary,
        failed,
        recorded,
    })
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::source::RepoFiles;

    /// The shipped example, copied into a fresh git repository.
    fn example() -> tempfile::TempDir {
        let root = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."));
        let dir = tempfile::tempdir().unwrap();
        for sub in ["templates", "environments"] {
            for entry in walkdir::WalkDir::new(root.join(sub)) {
                let entry = entry.unwrap();
                let to = dir.path().join(entry.path().strip_prefix(root).unwrap());
                if entry.file_type().is_dir() {
                    std::fs::create_dir_all(&to).unwrap();
                } else {
                    std::fs::copy(entry.path(), &to).unwrap();
                }
            }
        }
        git2::Repository::init(dir.path()).unwrap();
        dir
    }

    /// Applies the example's `local` environment with plans held up to `budget` bytes;
    /// returns how many tenants were applied and how many plans were held.
    fn apply_within(repo: &Path, budget: usize) -> (usize, usize) {
        crate::connect::set_local_platform(promote_emulator::Embedded::start_local);
        let files = RepoFiles::from_work_tree(repo).unwrap();
        let project = Project::open(&files, "local").unwrap();
        let tenants: Vec<&Tenant> = project.tenants.iter().collect();
        let live = Live::open(repo, &project.env, &tenants, Default::default()).unwrap();
        let options = Options {
            mode: crate::patch::three_way::Mode::Update,
            drift: Default::default(),
            dry_run: false,
            allow_delete: false,
            force: false,
            rotate_secrets: false,
            backups: repo.join(".promote/backups"),
            source: None,
            invent_secrets: true,
            complete: false,
        };
        let plans = plan_within(&project, &live, &tenants, &options, budget, || {});
        let held = plans
            .planned
            .iter()
            .filter(|s| matches!(s, Slot::Planned(Planned::Ready(_))))
            .count();
        let mut applied = 0;
        let report = send(repo, &project, &live, &tenants, plans, &options, |r| {
            if r.report.outcome == Some(Outcome::Applied) {
                applied += 1;
            }
        })
        .unwrap();
        assert_eq!(report.failed, 0);
        (applied, held)
    }

    #[test]
    fn plans_past_the_budget_are_made_again_and_applied_the_same() {
        let (held_repo, again_repo) = (example(), example());
        let (applied, held) = apply_within(held_repo.path(), HELD_BYTES);
        assert!(applied >= 4, "{applied}");
        assert_eq!(held, applied, "every plan fits the budget");
        let (applied_again, held_again) = apply_within(again_repo.path(), 0);
        assert_eq!((applied_again, held_again), (applied, 0));
        // Both platforms now hold the same tenants.
        for repo in [held_repo.path(), again_repo.path()] {
            let tenants = std::fs::read_dir(repo.join(".promote/emulator/tenants"))
                .unwrap()
                .count();
            assert_eq!(tenants, applied, "{}", repo.display());
        }
    }
}

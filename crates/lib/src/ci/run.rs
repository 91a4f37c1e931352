//! Running `promote ci`: validating, gating, planning or applying each environment in
//! promotion order, forgetting deleted tenants, sharing the state, and the outcomes.
//!
//! [`run`] does the work and writes the report to a [`Sink`] as it goes ([`Text`], [`Json`],
//! [`Markdown`]); what the program around it decides (how to connect, whether a person
//! confirms, where messages and progress go) it asks of a [`Host`].

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::Serialize;

use super::{Change, Shard};
use crate::apply;
use crate::baseline::{Baseline, Live};
use crate::diagnostic::{Diagnostic, Result};
use crate::environment::{Environment, Tenant};
use crate::gate;
use crate::patch::three_way::{DriftPolicy, Mode};
use crate::pipeline::Project;
use crate::plan::{self, Header, Outcome, Summary};
use crate::progress;
use crate::report;
use crate::saved::{Fit, PlanFile, SavedTenant};
use crate::state;

/// What `promote ci` runs.
#[derive(Debug, Clone)]
pub struct Options {
    /// The commit before the change; git's all-zero ID means "nothing before".
    pub base: String,
    /// The commit to plan or apply.
    pub head: String,
    /// Only these environments (every environment of head when empty).
    pub envs: Vec<String>,
    /// Apply, environment by environment, stopping at the first that fails.
    pub apply: bool,
    /// With `apply`: send everything with dry_run=true.
    pub dry_run: bool,
    /// Only this shard of the affected tenants.
    pub shard: Option<Shard>,
    /// Conflict resolution.
    pub mode: Mode,
    /// Drift restored (the default) or kept.
    pub drift: DriftPolicy,
    /// With `apply`: remove objects the repository dropped, and forget deleted tenants.
    pub allow_delete: bool,
    /// With `apply`: remove more than a fifth of a tenant's objects.
    pub force: bool,
    /// Pull the state from this remote before, push it after each environment applied.
    pub state_remote: Option<String>,
    /// Where the markdown summary goes, if anywhere.
    pub summary: Option<SummaryFile>,
    /// With `apply`: how long to wait for another run holding an environment's lock.
    pub lock_timeout: std::time::Duration,
    /// Without `apply`: save each environment's plan to `<dir>/<env>.plan.json`.
    pub save: Option<PathBuf>,
    /// With `apply`: apply exactly the plans saved in this directory (`<env>.plan.json`).
    pub plans: Option<PathBuf>,
}

impl Options {
    /// What this run does: `plan`, `apply` or `apply (dry run)`.
    pub(crate) fn action(&self) -> &'static str {
        match (self.apply, self.dry_run) {
            (false, _) => "plan",
            (true, false) => "apply",
            (true, true) => "apply (dry run)",
        }
    }
}

/// The file the markdown summary is written to.
#[derive(Debug, Clone)]
pub struct SummaryFile {
    pub path: PathBuf,
    /// Appended to (`$GITHUB_STEP_SUMMARY`) rather than replaced (`--summary FILE`).
    pub append: bool,
}

/// What an apply asks a person to confirm.
#[derive(Debug, Clone)]
pub struct Confirmation {
    /// Tenants to apply, over all environments.
    pub tenants: usize,
    /// The environments, in promotion order.
    pub environments: Vec<String>,
}

/// What the program running ci provides: connections, confirmation, and where messages and
/// progress go (stderr for the command line).
pub trait Host: progress::Observer {
    /// Connects to `env`'s platform for `tenants`.
    fn connect(&self, env: &Environment, tenants: &[&Tenant]) -> Result<Live, Vec<Diagnostic>>;
    /// Whether to go on with an apply (asked once, before anything is sent).
    fn confirm(&self, what: &Confirmation) -> bool;
    /// A warning, shown even when quiet.
    fn warn(&self, text: &str);
    /// A problem found along the way.
    fn diagnostic(&self, d: &Diagnostic);
    /// Something worth knowing, not shown when quiet.
    fn note(&self, text: &str);
}

/// Why ci stopped before running any environment, or could not finish.
#[derive(Debug)]
pub enum Error {
    /// Problems in the input (the change, the environments, the secrets file).
    Input(Vec<Diagnostic>),
    /// With `apply`: tenants of head do not render or validate; nothing was applied.
    Invalid(Vec<Diagnostic>),
}

impl From<Vec<Diagnostic>> for Error {
    fn from(d: Vec<Diagnostic>) -> Self {
        Error::Input(d)
    }
}

impl From<Diagnostic> for Error {
    fn from(d: Diagnostic) -> Self {
        Error::Input(vec![d])
    }
}

/// How a run ended.
#[derive(Debug)]
pub enum Ran {
    /// Nobody confirmed the apply: nothing was done.
    Declined,
    /// Every environment was run (or not, after one failed).
    Finished(Outcomes),
}

/// How one environment went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// The change affects none of its tenants.
    Unaffected,
    Planned,
    Applied,
    /// Errors: a plan with errors, a failed apply, a refused gate.
    Failed,
    /// Not run because an environment before it failed.
    NotRun,
}

impl Status {
    /// The status in words, as the text report and the summary say it.
    pub(crate) fn text(self) -> &'static str {
        match self {
            Status::Unaffected => "no tenant affected",
            Status::Planned => "planned",
            Status::Applied => "applied",
            Status::Failed => "failed",
            Status::NotRun => "not run",
        }
    }
}

/// One environment's outcome, for the reports and the markdown summary.
#[derive(Debug, Serialize)]
pub struct EnvOutcome {
    /// Written ahead of the report in the JSON form, so not serialized here.
    #[serde(skip)]
    pub env: String,
    pub status: Status,
    /// Tenants run (affected, in this shard).
    pub affected: usize,
    /// Tenants whose entry the change deleted (in this shard).
    pub removed: Vec<String>,
    /// Whether their last-applied state was removed (`--apply --allow-delete`).
    pub forgotten: bool,
    /// Inside the report in the JSON form, so not serialized here.
    #[serde(skip)]
    pub summary: Option<Summary>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<Diagnostic>,
    /// The markdown of its plan or apply report.
    #[serde(skip)]
    pub markdown: Vec<u8>,
}

/// What a run begins with: the change and what is done with it.
#[derive(Debug, Serialize)]
pub struct Start {
    pub version: u32,
    pub command: &'static str,
    pub action: &'static str,
    /// The base commit (none for git's all-zero ID).
    pub base: Option<String>,
    pub head: String,
    pub shard: Option<String>,
    /// Environments to run.
    #[serde(skip)]
    pub environments: usize,
    /// Whether this run applies.
    #[serde(skip)]
    pub apply: bool,
}

/// Every environment's outcome, in promotion order, and the markdown summary of them.
#[derive(Debug)]
pub struct Outcomes {
    pub environments: Vec<EnvOutcome>,
    /// The environment that failed an apply; those after it were not run.
    pub stopped: Option<String>,
    /// The markdown summary: a table of the environments, then each one's report.
    pub markdown: String,
}

impl Outcomes {
    /// Whether an environment failed.
    pub fn failed(&self) -> bool {
        self.environments.iter().any(|o| o.status == Status::Failed)
    }

    /// Whether a plan or apply had changes.
    pub fn has_changes(&self) -> bool {
        self.environments
            .iter()
            .any(|o| o.summary.is_some_and(|s| s.has_changes()))
    }

    /// Totals over the environments.
    pub(crate) fn totals(&self) -> Totals {
        let outcomes = &self.environments;
        let sum = |f: fn(&Summary) -> usize| -> usize {
            outcomes
                .iter()
                .filter_map(|o| o.summary.as_ref())
                .map(f)
                .sum()
        };
        Totals {
            environments: outcomes.len(),
            tenants: sum(|s| s.tenants),
            with_changes: sum(|s| s.with_changes),
            errors: sum(|s| s.errors),
            removed: outcomes.iter().map(|o| o.removed.len()).sum(),
            failed: outcomes
                .iter()
                .find(|o| o.status == Status::Failed)
                .map(|o| o.env.clone()),
        }
    }
}

/// Totals over the environments, for the JSON report.
#[derive(Debug, Serialize)]
pub struct Totals {
    pub environments: usize,
    pub tenants: usize,
    pub with_changes: usize,
    pub errors: usize,
    pub removed: usize,
    pub failed: Option<String>,
}

impl Totals {
    /// The totals in a sentence, as the text report ends.
    pub(crate) fn text(&self) -> String {
        let mut text = format!(
            "{} environment(s): {} tenant(s) run, {} with changes, {} error(s)",
            self.environments, self.tenants, self.with_changes, self.errors
        );
        if self.removed > 0 {
            text.push_str(&format!(", {} removed from the repository", self.removed));
        }
        if let Some(env) = &self.failed {
            text.push_str(&format!("; `{env}` failed"));
        }
        text
    }
}

/// Where a ci report is written, as it goes: the run's start, each environment's plan or
/// apply report (through [`Sink::report`]) and outcome, then the outcomes.
pub trait Sink {
    fn start(&mut self, start: &Start) -> io::Result<()>;
    /// Environment `env` begins (its report, if it runs, follows).
    fn environment(&mut self, env: &str, first: bool) -> io::Result<()>;
    /// Where the running environment's plan or apply report goes.
    fn report(&mut self) -> &mut dyn report::Sink;
    fn environment_end(&mut self, outcome: &EnvOutcome) -> io::Result<()>;
    /// The end of the report; flushes.
    fn finish(&mut self, outcomes: &Outcomes) -> io::Result<()>;
}

/// The first 12 characters of a commit ID, as messages show it.
fn short(id: &str) -> &str {
    &id[..id.len().min(12)]
}

/// Plans or applies, environment by environment in promotion order, the tenants the change
/// from `options.base` to `options.head` of the repository at `repo` affects, writing the
/// report to `sink`. With `apply`, every tenant to apply is validated first, and `host`
/// confirms before anything is sent.
pub fn run(
    repo: &Path,
    options: &Options,
    host: &dyn Host,
    sink: &mut dyn Sink,
) -> Result<Ran, Error> {
    let mut change = super::read(repo, &options.base, &options.head)?;
    if let Some(remote) = &options.state_remote {
        let pulled = state::sync::pull(repo, remote)?;
        let remote = crate::scrub::remote(remote);
        tracing::info!(?pulled, remote, "state pulled");
    }
    // Every environment renders from the head's templates, compiled once (while the
    // environments are read).
    let names = super::names(&change.head, &options.envs);
    let (templates, opened) = Project::open_each(&change.head, &names)?;
    change.affected = crate::affected::affected_given(
        &change.base,
        &change.head,
        Some(templates.graph()),
        &options.envs,
    );
    let projects = load(repo, options, host, &change, opened)?;
    let envs: Vec<String> = projects.iter().map(|p| p.env.name.clone()).collect();
    if options.apply {
        validate_all(&change, &projects, options.shard)?;
        crate::credentials::secrets::check_file()?;
    }
    if let Some(dir) = &options.save {
        crate::saved::check_place(repo, dir)?;
    }
    let mut saved = match (&options.plans, options.apply) {
        (Some(dir), true) => read_saved(repo, dir, &envs, &change)?,
        _ => std::collections::BTreeMap::new(),
    };
    let to_apply: usize = envs
        .iter()
        .map(|e| match saved.get(e) {
            Some(file) => file
                .tenants
                .iter()
                .filter(|t| options.shard.is_none_or(|s| s.holds(&t.key)))
                .count(),
            None => super::selection(&change.affected, e, options.shard).len(),
        })
        .sum();
    if options.apply
        && !options.dry_run
        && to_apply > 0
        && !host.confirm(&Confirmation {
            tenants: to_apply,
            environments: envs.clone(),
        })
    {
        return Ok(Ran::Declined);
    }

    // A closed pipe ends the output, not the run.
    let mut open = sink
        .start(&Start {
            version: crate::plan::REPORT_VERSION,
            command: "ci",
            action: options.action(),
            base: change.base_commit.map(|c| c.to_string()),
            head: change.head_commit.to_string(),
            shard: options.shard.map(|s| s.to_string()),
            environments: envs.len(),
            apply: options.apply,
        })
        .is_ok();
    let mut outcomes: Vec<EnvOutcome> = Vec::new();
    let mut stopped: Option<String> = None;
    for project in &projects {
        if open {
            open = sink
                .environment(&project.env.name, outcomes.is_empty())
                .is_ok();
        }
        let outcome = environment(
            repo,
            options,
            host,
            &change,
            project,
            stopped.as_deref(),
            saved.remove(&project.env.name),
            sink,
            open,
            markdown_share(&outcomes, projects.len()),
        );
        if outcome.status == Status::Failed && options.apply {
            stopped = Some(outcome.env.clone());
        }
        for d in &outcome.errors {
            host.diagnostic(d);
        }
        if open {
            open = sink.environment_end(&outcome).is_ok();
        }
        outcomes.push(outcome);
    }

    let markdown = summary_markdown(options, &change, &outcomes);
    let outcomes = Outcomes {
        environments: outcomes,
        stopped,
        markdown,
    };
    if open {
        let _ = sink.finish(&outcomes);
    }
    if let Some(file) = &options.summary {
        write_summary(file, &outcomes.markdown)?;
        host.note(&format!("summary written to {}", file.path.display()));
    }
    Ok(Ran::Finished(outcomes))
}

/// The environments to run, loaded from head ([`Project::open_each`]), in promotion order. A
/// plan (which may be a pull request's) connects where the base commit says; an apply runs on
/// a merged change.
fn load<'a>(
    repo: &Path,
    options: &Options,
    host: &dyn Host,
    change: &Change,
    opened: Vec<Result<Project<'a>, Vec<Diagnostic>>>,
) -> Result<Vec<Project<'a>>, Error> {
    let mut projects = Vec::new();
    let mut problems = Vec::new();
    for opened in opened {
        match opened {
            Ok(mut p) if !options.apply => {
                match super::trust_base_target(repo, change, std::sync::Arc::make_mut(&mut p.env)) {
                    Ok(note) => {
                        if let Some(note) = note {
                            host.warn(&note);
                        }
                        projects.push(p);
                    }
                    Err(d) => problems.push(d),
                }
            }
            Ok(p) => projects.push(p),
            Err(ds) => problems.extend(ds),
        }
    }
    if !problems.is_empty() {
        return Err(problems.into());
    }
    Ok(super::order(projects, |p| &p.env)?)
}

/// Renders and validates every tenant to be applied, in every environment, before anything is
/// sent: a change that breaks prod is not half promoted.
fn validate_all(change: &Change, projects: &[Project], shard: Option<Shard>) -> Result<(), Error> {
    let mut problems: Vec<Diagnostic> = Vec::new();
    for project in projects {
        let keys = super::selection(&change.affected, &project.env.name, shard);
        let tenants: Vec<_> = project
            .tenants
            .iter()
            .filter(|t| keys.binary_search(&t.key).is_ok())
            .collect();
        problems.extend(
            tenants
                .par_iter()
                .filter_map(|t| project.desired(t).err())
                .flatten()
                .collect::<Vec<_>>(),
        );
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Error::Invalid(problems))
    }
}

/// Reads the saved plan of each of `envs` from `dir` (`<env>.plan.json`, as `ci --save`
/// writes them), refusing a missing one, one of another environment, and one made from a
/// configuration other than head's.
fn read_saved(
    repo: &Path,
    dir: &Path,
    envs: &[String],
    change: &Change,
) -> Result<std::collections::BTreeMap<String, PlanFile>, Error> {
    let head = change.head_commit.to_string();
    let head_tree = crate::saved::config_tree(repo, &head)?;
    let mut files = std::collections::BTreeMap::new();
    let mut problems = Vec::new();
    for env in envs {
        let path = dir.join(plan_file_name(env));
        let file = match PlanFile::read(&path) {
            Ok(file) => file,
            Err(d) => {
                problems.push(d.hint(format!("save the plans with `promote ci --save {}` and apply those, or apply without --plan (which plans again)", dir.display())));
                continue;
            }
        };
        if let Err(d) = file.check_env(&path, env) {
            problems.push(d);
        } else if file.fit(&head, || Some(head_tree.clone())) == Fit::Other {
            problems.push(
                Diagnostic::new(format!(
                    "{} was made from commit {}, and head ({}) has another configuration",
                    path.display(),
                    file.short_commit(),
                    short(&head)
                ))
                .hint("plan head again (`promote ci --save`); to apply an older plan to one environment, use `promote apply --plan FILE --allow-other-commit`"),
            );
        } else {
            files.insert(env.clone(), file);
        }
    }
    if problems.is_empty() {
        Ok(files)
    } else {
        Err(problems.into())
    }
}

/// The name of an environment's saved plan in a `ci --save` directory.
fn plan_file_name(env: &str) -> String {
    format!("{env}.plan.json")
}

/// Writes the saved plan of `env` (its `tenants`, planned from head) to `<dir>/<env>.plan.json`.
fn save_plan(
    repo: &Path,
    dir: &Path,
    options: &Options,
    change: &Change,
    env: &str,
    tenants: Vec<SavedTenant>,
) -> Result<(), Diagnostic> {
    let file = PlanFile::new(
        repo,
        env,
        change.head_commit.to_string(),
        (options.mode, options.drift),
        // Every tenant the change affects, as `ci --apply` records it.
        true,
        tenants,
    )?;
    std::fs::create_dir_all(dir)
        .map_err(|e| Diagnostic::new(format!("cannot create {}: {e}", dir.display())))?;
    file.write(&dir.join(plan_file_name(env)))
}

/// The share of the summary's markdown budget of the next environment of `envs`: what the
/// reports of `done` left, shared equally by the environments still to run (one comment holds
/// the summary).
fn markdown_share(done: &[EnvOutcome], envs: usize) -> usize {
    let used: usize = done.iter().map(|o| o.markdown.len()).sum();
    report::MARKDOWN_BUDGET.saturating_sub(used) / envs.saturating_sub(done.len()).max(1)
}

/// Runs one environment (unless `stopped` names one that failed before it), writing its
/// report to `sink` while `open`, its markdown within `markdown` characters. With a `saved`
/// plan, exactly its tenants are applied as it says.
#[allow(clippy::too_many_arguments)]
fn environment(
    repo: &Path,
    options: &Options,
    host: &dyn Host,
    change: &Change,
    project: &Project,
    stopped: Option<&str>,
    saved: Option<PlanFile>,
    sink: &mut dyn Sink,
    open: bool,
    markdown: usize,
) -> EnvOutcome {
    let env = project.env.name.clone();
    // A saved plan's tenants, of this shard only.
    let saved = saved.map(|mut file| {
        file.tenants
            .retain(|t| options.shard.is_none_or(|s| s.holds(&t.key)));
        file
    });
    let keys = match &saved {
        Some(file) => file.tenants.iter().map(|t| t.key.clone()).collect(),
        None => super::selection(&change.affected, &env, options.shard),
    };
    let removed = super::removed(&change.affected, &env, options.shard);
    let mut outcome = EnvOutcome {
        env: env.clone(),
        status: Status::Unaffected,
        affected: keys.len(),
        removed,
        forgotten: false,
        summary: None,
        errors: Vec::new(),
        markdown: Vec::new(),
    };
    if let Some(failed) = stopped {
        outcome.status = Status::NotRun;
        outcome.errors.push(Diagnostic::new(format!(
            "not run: `{failed}` failed before it"
        )));
        return outcome;
    }
    let deletes = options.apply && options.allow_delete && !outcome.removed.is_empty();
    tracing::info!(
        "ci {env}: {} tenant(s) affected by the change, {} removed",
        keys.len(),
        outcome.removed.len()
    );
    if keys.is_empty() && !deletes {
        tracing::debug!("ci {env}: skipped, the change affects none of its tenants");
        if let (Some(dir), false) = (&options.save, options.apply) {
            if let Err(d) = save_plan(repo, dir, options, change, &env, Vec::new()) {
                outcome.status = Status::Failed;
                outcome.errors.push(d.context(&env, None));
            }
        }
        return outcome;
    }
    let _lock = if options.apply && !options.dry_run {
        match lock(repo, options, change, &env, host) {
            Ok(guard) => Some(guard),
            Err(d) => {
                outcome.status = Status::Failed;
                outcome.errors.push(d.context(&env, None));
                return outcome;
            }
        }
    } else {
        None
    };
    let mut markdown = report::Markdown::new(&mut outcome.markdown).within(markdown);
    let mut sinks: [&mut dyn report::Sink; 2] = [sink.report(), &mut markdown];
    let run = Env {
        project,
        keys: &keys,
        saved,
    };
    match run_env(repo, options, host, change, run, &mut sinks, open) {
        Ok(EnvRun {
            summary,
            mut failed,
            saved,
        }) => {
            if let (Some(dir), Some(tenants)) = (&options.save, saved) {
                if summary.has_errors() {
                    host.note(&format!(
                        "{env}: the plan was not saved: a plan with errors cannot be applied"
                    ));
                } else if let Err(d) = save_plan(repo, dir, options, change, &env, tenants) {
                    outcome.errors.push(d.context(&env, None));
                    failed = true;
                }
            }
            outcome.summary = Some(summary);
            outcome.status = if failed || summary.has_errors() {
                Status::Failed
            } else if options.apply {
                Status::Applied
            } else {
                Status::Planned
            };
        }
        Err(errors) => {
            outcome.status = Status::Failed;
            outcome.errors = errors;
        }
    }
    if let Some(line) = project.warnings_line() {
        host.warn(&line);
    }
    if options.apply && options.allow_delete && outcome.status == Status::Applied {
        outcome.forgotten = forget(repo, options, change, &env, &outcome.removed, host);
    }
    if let (Some(remote), true, false) = (&options.state_remote, options.apply, options.dry_run) {
        if let Err(e) = state::sync::push(repo, remote) {
            outcome.status = Status::Failed;
            outcome.errors.push(
                Diagnostic::new(format!("{e:#}"))
                    .context(&env, None)
                    .hint("what was applied is recorded in this clone only: push refs/promote/state by hand, or run the job again"),
            );
        }
    }
    outcome
}

/// Takes the lock of `env` (on the state remote too, when there is one) and, with a state
/// remote, pulls the state again under it: what this job plans against is what the last
/// holder recorded. A shard locks its own part of the environment (the shards of one fleet
/// never share a tenant), so the jobs of one fleet run side by side; any other writer of the
/// environment waits for them, and they for it.
fn lock(
    repo: &Path,
    options: &Options,
    change: &Change,
    env: &str,
    host: &dyn Host,
) -> Result<crate::lock::Guard> {
    let scope = match options.shard {
        Some(s) => crate::lock::Scope::Shard {
            index: s.index,
            count: s.count,
        },
        None => crate::lock::Scope::Whole,
    };
    let lock_options = crate::lock::Options {
        timeout: options.lock_timeout,
        remote: options.state_remote.clone(),
        command: "ci --apply".into(),
        commit: Some(change.head_commit.to_string()),
        scope,
    };
    let guard = crate::lock::acquire(repo, env, &lock_options, &mut |t| host.note(t))?;
    if let Some(remote) = &options.state_remote {
        let pulled = state::sync::pull(repo, remote)?;
        let remote = crate::scrub::remote(remote);
        tracing::info!(?pulled, remote, env, "state pulled under the lock");
    }
    Ok(guard)
}

/// What running one environment gave.
struct EnvRun {
    summary: Summary,
    /// A tenant failed to apply, or the state could not be recorded.
    failed: bool,
    /// With `--save`: the plan of each tenant, to save.
    saved: Option<Vec<SavedTenant>>,
}

/// One environment to run: its project, the keys of its tenants to run, and the saved plan
/// to apply, if any.
struct Env<'a, 'p> {
    project: &'a Project<'p>,
    keys: &'a [String],
    saved: Option<PlanFile>,
}

/// Plans or applies the tenants `keys` of one environment, writing its report to `sinks`
/// (the first while `open`).
fn run_env(
    repo: &Path,
    options: &Options,
    host: &dyn Host,
    change: &Change,
    Env {
        project,
        keys,
        saved,
    }: Env<'_, '_>,
    sinks: &mut [&mut dyn report::Sink],
    open: bool,
) -> Result<EnvRun, Vec<Diagnostic>> {
    let env = &project.env;
    let mode = saved.as_ref().map_or(options.mode, PlanFile::mode);
    // No key is no tenant here (a change that only removes entries), not every tenant as for
    // `--tenant`.
    let tenants = match &saved {
        Some(file) => file.select(project)?,
        None if keys.is_empty() => Vec::new(),
        None => project.select_keys(keys)?,
    };
    if options.apply && !options.dry_run {
        gate::check(
            repo,
            project,
            &tenants,
            gate::Head::Commit(change.head_commit),
        )
        .map_err(|d| vec![d.context(&env.name, None)])?;
    }
    let header = Header {
        version: crate::plan::REPORT_VERSION,
        env: env.name.clone(),
        against: "live".into(),
        mode,
        action: options.apply.then(|| options.action().to_owned()),
        drift: saved.as_ref().map_or(options.drift, |f| f.drift),
        ignore: project.ignore_rules(&tenants),
    };
    // Tenants last applied from a commit head does not contain (a branch applied by hand, or
    // from another work tree): head's configuration replaces what only that commit had.
    if !tenants.is_empty() {
        let foreign = crate::lineage::foreign(repo, &env.name, &tenants, change.head_commit)
            .map_err(|d| vec![d])?;
        if !foreign.is_empty() {
            host.warn(&foreign.warning(&env.name, &change.head_commit.to_string()));
        }
    }
    // Connect before the report begins, so that a failure leaves no half-written report.
    let live = if tenants.is_empty() {
        None
    } else {
        Some(host.connect(env, &tenants)?)
    };
    let mut open = [open, true];
    for (i, sink) in sinks.iter_mut().enumerate() {
        open[i] = open[i] && sink.begin(&header).is_ok();
    }
    host.begin(&format!("{} {}", options.action(), env.name), tenants.len());
    let mut emit = |report: &plan::TenantPlan| {
        host.advance();
        for (i, sink) in sinks.iter_mut().enumerate() {
            if open[i] {
                open[i] = sink.tenant(report).is_ok();
            }
        }
    };
    let mut to_save = None;
    let (summary, failed) = match live {
        None => (Summary::default(), false),
        Some(live) if options.apply => {
            let apply_options = apply::Options {
                mode,
                drift: header.drift,
                dry_run: options.dry_run,
                allow_delete: options.allow_delete,
                force: options.force,
                rotate_secrets: false,
                backups: crate::files::backups_dir(repo).map_err(|d| vec![d])?,
                source: Some(change.head_commit.to_string()),
                invent_secrets: env.file.target.emulator.is_some(),
                // Every tenant the change affects in this environment (or in this shard).
                complete: true,
            };
            let each = |r: &apply::TenantApply| {
                if matches!(
                    r.report.outcome,
                    Some(Outcome::Failed | Outcome::PartlyApplied)
                ) {
                    for d in &r.report.errors {
                        host.diagnostic(d);
                    }
                }
                emit(&r.report)
            };
            let applied = match saved {
                // Exactly what the saved plan says, to the tenants it names.
                Some(file) => {
                    let plans = apply::fleet::Plans::saved(project, &tenants, file.tenants);
                    apply::fleet::send(repo, project, &live, &tenants, plans, &apply_options, each)
                }
                None => apply::fleet::run(repo, project, &live, &tenants, &apply_options, each),
            }
            .map_err(|e| vec![Diagnostic::new(format!("{e:#}"))])?;
            let mut failed = applied.failed > 0;
            if let Err(e) = applied.recorded {
                host.diagnostic(
                    &Diagnostic::new(format!(
                        "the changes were applied but the last-applied state could not be recorded: {e:#}"
                    ))
                    .context(&env.name, None)
                    .hint("run the job again to record them"),
                );
                failed = true;
            }
            (applied.summary, failed)
        }
        Some(live) => {
            let baseline = Baseline::Live(Box::new(live));
            let mut saving = Vec::new();
            let mut each = |p: plan::TenantPlan, change| {
                for d in &p.errors {
                    host.diagnostic(d);
                }
                if options.save.is_some() {
                    saving.push(SavedTenant {
                        key: p.key.clone(),
                        id: p.id.clone(),
                        change,
                    });
                }
                emit(&p)
            };
            let summary = plan::plan_to_save(
                project,
                &tenants,
                &baseline,
                (header.mode, header.drift),
                options.save.is_some(),
                &mut each,
            );
            to_save = options.save.is_some().then_some(saving);
            (summary, false)
        }
    };
    host.finish();
    for (i, sink) in sinks.iter_mut().enumerate() {
        if open[i] {
            let _ = sink.end(&summary);
        }
    }
    Ok(EnvRun {
        summary,
        failed,
        saved: to_save,
    })
}

/// Removes the last-applied state of the tenants the change deleted from `env`. The platform
/// keeps them: the API cannot delete a tenant, and emptying one would also remove the system
/// workspace promote signs in through.
fn forget(
    repo: &Path,
    options: &Options,
    change: &Change,
    env: &str,
    removed: &[String],
    host: &dyn Host,
) -> bool {
    if removed.is_empty() || options.dry_run {
        return false;
    }
    let source = change.head_commit.to_string();
    let lines: Vec<String> = removed
        .iter()
        .map(|k| {
            format!("{k}: forgotten (its entry was deleted; the platform tenant is not changed)")
        })
        .collect();
    let result = state::Recorder::new(repo, env).and_then(|mut rec| {
        for key in removed {
            rec.forget(key)?;
        }
        rec.commit(&state::message(env, &lines, &[], Some(&source)), false)
    });
    match result {
        Ok(_) => true,
        Err(e) => {
            host.diagnostic(
                &Diagnostic::new(format!("cannot forget the deleted tenants: {e:#}"))
                    .context(env, None),
            );
            false
        }
    }
}

/// The markdown summary: a table of the environments, then each one's report.
fn summary_markdown(options: &Options, change: &Change, outcomes: &[EnvOutcome]) -> String {
    let mut text = format!(
        "## promote ci {}: `{}`..`{}`{}\n\n| environment | status | tenants | with changes | errors | removed from the repository |\n|---|---|---:|---:|---:|---|\n",
        options.action(),
        change
            .base_commit
            .map(|c| short(&c.to_string()).to_owned())
            .unwrap_or_else(|| "none".into()),
        short(&change.head_commit.to_string()),
        options
            .shard
            .map(|s| format!(" (shard {s})"))
            .unwrap_or_default()
    );
    for o in outcomes {
        let (with_changes, errors) = o
            .summary
            .map(|s| (s.with_changes, s.errors))
            .unwrap_or((0, o.errors.len()));
        text.push_str(&format!(
            "| `{}` | {} | {} | {} | {} | {} |\n",
            report::md_escape(&o.env),
            if o.status == Status::Failed {
                "**failed**"
            } else {
                o.status.text()
            },
            o.affected,
            with_changes,
            errors,
            o.removed
                .iter()
                .map(|k| format!("`{}`", report::md_escape(k)))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    text.push('\n');
    for o in outcomes {
        for d in &o.errors {
            text.push_str(&format!(
                "> **{}**: {}\n\n",
                report::md_escape(&o.env),
                report::md_escape(&d.to_string()).replace('\n', " ")
            ));
        }
        if !o.markdown.is_empty() {
            text.push_str(&String::from_utf8_lossy(&o.markdown));
            text.push('\n');
        }
    }
    text
}

/// Writes the markdown summary to `file`, appending or replacing.
fn write_summary(file: &SummaryFile, markdown: &str) -> Result<()> {
    let failed = |e: io::Error| {
        Diagnostic::new(format!(
            "cannot write the summary to {}: {e}",
            file.path.display()
        ))
    };
    let mut out = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .append(file.append)
        .truncate(!file.append)
        .open(&file.path)
        .map_err(failed)?;
    out.write_all(markdown.as_bytes()).map_err(failed)
}

/// The text report: a heading, each environment's plan or apply report and status, totals.
pub struct Text<W: Write> {
    report: report::Text<W>,
    apply: bool,
}

impl<W: Write> Text<W> {
    /// Returns a text sink writing to `out`; `verbose` lists unchanged tenants too.
    pub fn new(out: W, verbose: bool) -> Self {
        Text {
            report: report::Text::new(out, verbose),
            apply: false,
        }
    }
}

impl<W: Write> Sink for Text<W> {
    fn start(&mut self, s: &Start) -> io::Result<()> {
        self.apply = s.apply;
        writeln!(
            self.report.out,
            "promote ci {}: {}..{}{}, {} environment(s)\n",
            s.action,
            short(s.base.as_deref().unwrap_or("none")),
            short(&s.head),
            s.shard
                .as_ref()
                .map(|s| format!(" (shard {s})"))
                .unwrap_or_default(),
            s.environments
        )
    }

    fn environment(&mut self, _env: &str, _first: bool) -> io::Result<()> {
        Ok(())
    }

    fn report(&mut self) -> &mut dyn report::Sink {
        &mut self.report
    }

    fn environment_end(&mut self, o: &EnvOutcome) -> io::Result<()> {
        let out = &mut self.report.out;
        if o.summary.is_none() {
            writeln!(out, "{}: {}", o.env, o.status.text())?;
        }
        if !o.removed.is_empty() {
            let what = if o.forgotten {
                "forgotten (their last-applied state was removed; the platform tenants are not changed)"
            } else if self.apply {
                "kept on the platform and in the state (--allow-delete forgets them)"
            } else {
                "kept on the platform (the API cannot delete a tenant)"
            };
            writeln!(
                out,
                "{}: removed from the repository: {}: {what}",
                o.env,
                o.removed.join(", ")
            )?;
        }
        writeln!(out)
    }

    fn finish(&mut self, outcomes: &Outcomes) -> io::Result<()> {
        writeln!(self.report.out, "{}", outcomes.totals().text())?;
        self.report.out.flush()
    }
}

/// The JSON report: the start's fields, then per environment its plan or apply report (as
/// [`report::Json`] writes it, `null` when it did not run) and outcome, then the totals.
pub struct Json<W: Write> {
    report: report::Json<W>,
}

impl<W: Write> Json<W> {
    /// Returns a JSON sink writing to `out`.
    pub fn new(out: W) -> Self {
        Json {
            report: report::Json::new(out),
        }
    }
}

impl<W: Write> Sink for Json<W> {
    fn start(&mut self, s: &Start) -> io::Result<()> {
        let start = serde_json::to_string(s)?;
        // `{"version":2,...}` without its closing brace, then the environments.
        write!(
            self.report.out,
            "{},\n\"environments\": [",
            &start[..start.len() - 1]
        )
    }

    fn environment(&mut self, env: &str, first: bool) -> io::Result<()> {
        // Each environment's report lists its own tenants.
        self.report.first = true;
        write!(
            self.report.out,
            "{}\n{{\"env\":{},\"report\":",
            if first { "" } else { "," },
            serde_json::to_string(env)?
        )
    }

    fn report(&mut self) -> &mut dyn report::Sink {
        &mut self.report
    }

    fn environment_end(&mut self, o: &EnvOutcome) -> io::Result<()> {
        let rest = serde_json::to_string(o)?;
        // `"report":` was written before the environment ran; null when it did not.
        write!(
            self.report.out,
            "{},{}",
            if o.summary.is_some() { "" } else { "null" },
            &rest[1..]
        )
    }

    fn finish(&mut self, outcomes: &Outcomes) -> io::Result<()> {
        writeln!(
            self.report.out,
            "\n],\n\"summary\": {}}}",
            serde_json::to_string(&outcomes.totals())?
        )?;
        self.report.out.flush()
    }
}

/// The markdown report: the summary, written at the end (each environment's report is in
/// it).
pub struct Markdown<W: Write> {
    out: W,
    /// Each environment's report goes nowhere as it runs.
    report: report::Markdown<io::Sink>,
}

impl<W: Write> Markdown<W> {
    /// Returns a markdown sink writing to `out`.
    pub fn new(out: W) -> Self {
        Markdown {
            out,
            report: report::Markdown::new(io::sink()),
        }
    }
}

impl<W: Write> Sink for Markdown<W> {
    fn start(&mut self, _start: &Start) -> io::Result<()> {
        Ok(())
    }
    fn environment(&mut self, _env: &str, _first: bool) -> io::Result<()> {
        Ok(())
    }
    fn report(&mut self) -> &mut dyn report::Sink {
        &mut self.report
    }
    fn environment_end(&mut self, _outcome: &EnvOutcome) -> io::Result<()> {
        Ok(())
    }
    fn finish(&mut self, outcomes: &Outcomes) -> io::Result<()> {
        self.out.write_all(outcomes.markdown.as_bytes())?;
        self.out.flush()
    }
}

//! `promote ci`: plan, or apply, exactly the tenants a merge changed, environment by
//! environment in promotion order.

use std::io::Write;
use std::path::PathBuf;

use rayon::prelude::*;
use serde::Serialize;

use super::plan::ModeArg;
use super::{CommandResult, Exit, GlobalArgs, OutputFormat, Ui};
use promote_lib::apply::{self, Options};
use promote_lib::baseline::Baseline;
use promote_lib::ci::{self, Change, Shard};
use promote_lib::diagnostic::Diagnostic;
use promote_lib::gate;
use promote_lib::pipeline::Project;
use promote_lib::plan::{self, Header, Outcome, Summary};
use promote_lib::progress;
use promote_lib::report::{self, Sink};
use promote_lib::state;

/// Plan (or with --apply, apply) only the tenants a change from --base to --head affects, in
/// each environment in the order of their `requires:` gates; head is read from git, with no
/// checkout
#[derive(Debug, clap::Args)]
pub struct CiArgs {
    /// The commit before the change (the merge base of a pull request, or the previous tip of
    /// the branch); git's all-zero ID means "nothing before"
    #[arg(long, value_name = "REV")]
    pub base: String,
    /// The commit to plan or apply
    #[arg(long, value_name = "REV", default_value = "HEAD")]
    pub head: String,
    /// Only this environment; repeatable (default: every environment of head)
    #[arg(long = "env", value_name = "ENV")]
    pub envs: Vec<String>,
    /// Apply, environment by environment, stopping at the first that fails
    #[arg(long)]
    pub apply: bool,
    /// With --apply: send everything with dry_run=true (the platform validates and changes
    /// nothing)
    #[arg(long, requires = "apply")]
    pub dry_run: bool,
    /// Only shard K of N of the affected tenants (a stable partition by tenant key), for a
    /// fleet split over N jobs
    #[arg(long, value_name = "K/N")]
    pub shard: Option<Shard>,
    /// Conflict resolution where the platform and the repository both changed a path
    #[arg(long, value_enum, default_value_t = ModeArg::Update)]
    pub mode: ModeArg,
    /// With --apply: allow removing whole objects the repository dropped, and forget (remove
    /// from the last-applied state) tenants whose entry was deleted
    #[arg(long)]
    pub allow_delete: bool,
    /// With --apply: allow removing more than a fifth of a tenant's objects
    #[arg(long)]
    pub force: bool,
    /// Write the markdown summary to FILE (default: $GITHUB_STEP_SUMMARY when set, appended)
    #[arg(long, value_name = "FILE")]
    pub summary: Option<PathBuf>,
    /// Without --apply: exit 2 when there are changes (0 none, 1 error)
    #[arg(long)]
    pub detailed_exitcode: bool,
    /// Share the last-applied state (refs/promote/state) through this git remote (a name or a
    /// URL): pulled before planning, pushed after each environment applied, with other jobs'
    /// records kept
    #[arg(long, value_name = "REMOTE")]
    pub state_remote: Option<String>,
    /// Do not ask for confirmation on a terminal
    #[arg(long, short = 'y')]
    pub yes: bool,
}

/// How one environment went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
enum Status {
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
    fn text(self) -> &'static str {
        match self {
            Status::Unaffected => "no tenant affected",
            Status::Planned => "planned",
            Status::Applied => "applied",
            Status::Failed => "failed",
            Status::NotRun => "not run",
        }
    }
}

/// What this run does: `plan`, `apply` or `apply (dry run)`.
fn action(args: &CiArgs) -> &'static str {
    match (args.apply, args.dry_run) {
        (false, _) => "plan",
        (true, false) => "apply",
        (true, true) => "apply (dry run)",
    }
}

/// The first 12 characters of a commit ID, as messages show it.
fn short(id: &str) -> &str {
    &id[..id.len().min(12)]
}

/// One environment's outcome, for the JSON report and the markdown summary.
#[derive(Debug, Serialize)]
struct EnvOutcome {
    /// Written ahead of the report in the JSON form, so not serialized here.
    #[serde(skip)]
    env: String,
    status: Status,
    /// Tenants run (affected, in this shard).
    affected: usize,
    /// Tenants whose entry the change deleted (in this shard).
    removed: Vec<String>,
    /// Whether their last-applied state was removed (`--apply --allow-delete`).
    forgotten: bool,
    /// Inside the report in the JSON form, so not serialized here.
    #[serde(skip)]
    summary: Option<Summary>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    errors: Vec<Diagnostic>,
    /// The markdown of its plan or apply report.
    #[serde(skip)]
    markdown: Vec<u8>,
}

pub fn run(ui: &Ui, global: &GlobalArgs, args: &CiArgs) -> CommandResult {
    let change = ci::read(&global.repo, &args.base, &args.head, &args.envs)?;
    if let Some(remote) = &args.state_remote {
        let pulled = state::sync::pull(&global.repo, remote)?;
        tracing::info!(?pulled, remote, "state pulled");
    }
    let mut projects = Vec::new();
    let mut problems = Vec::new();
    // Every environment renders from the head's templates, compiled once.
    let templates = std::sync::Arc::new(promote_lib::render::Templates::compile(&change.head)?);
    for env in ci::names(&change.head, &args.envs) {
        match Project::load(&templates, &env) {
            // An apply runs on a merged change; a plan may be a pull request's.
            Ok(mut p) if !args.apply => {
                match ci::trust_base_target(&global.repo, &change, &mut p.env) {
                    Ok(note) => {
                        if let Some(note) = note {
                            ui.warn(&note);
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
    let projects = ci::order(projects, |p| &p.env)?;
    let envs: Vec<String> = projects.iter().map(|p| p.env.name.clone()).collect();
    let action = action(args);
    if args.apply && !validate_all(ui, &change, &projects, args.shard) {
        return Ok(Exit::Error);
    }
    if args.apply {
        promote_lib::credentials::secrets::check_file()?;
    }
    let to_apply: usize = envs
        .iter()
        .map(|e| ci::selection(&change.affected, e, args.shard).len())
        .sum();
    if args.apply
        && !args.yes
        && !args.dry_run
        && to_apply > 0
        && !super::confirm(&format!(
            "Apply {to_apply} tenant(s) over {}? Run without --apply to see the plan.",
            envs.join(", ")
        ))
    {
        ui.note("nothing was applied");
        return Ok(Exit::Ok);
    }

    let stdout = std::io::stdout().lock();
    let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout);
    let base_text = change
        .base_commit
        .map(|c| c.to_string())
        .unwrap_or_else(|| "none".into());
    let head_text = change.head_commit.to_string();
    // A closed pipe ends the output, not the run.
    let mut open = match ui.format {
        OutputFormat::Text => writeln!(
            out,
            "promote ci {action}: {}..{}{}, {} environment(s)\n",
            short(&base_text),
            short(&head_text),
            args.shard
                .map(|s| format!(" (shard {s})"))
                .unwrap_or_default(),
            envs.len()
        ),
        OutputFormat::Json => write!(
            out,
            "{{\"version\":1,\"command\":\"ci\",\"action\":{},\"base\":{},\"head\":{},\"shard\":{},\n\"environments\": [",
            json(&action),
            json(&change.base_commit.map(|c| c.to_string())),
            json(&head_text),
            json(&args.shard.map(|s| s.to_string())),
        ),
        OutputFormat::Markdown | OutputFormat::Html => Ok(()),
    }
    .is_ok();

    let mut outcomes: Vec<EnvOutcome> = Vec::new();
    let mut stopped: Option<String> = None;
    for project in &projects {
        let env = project.env.name.clone();
        let keys = ci::selection(&change.affected, &env, args.shard);
        let removed = ci::removed(&change.affected, &env, args.shard);
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
        if open && ui.format == OutputFormat::Json {
            open = write!(
                out,
                "{}\n{{\"env\":{},\"report\":",
                if outcomes.is_empty() { "" } else { "," },
                json(&env)
            )
            .is_ok();
        }
        if let Some(failed) = &stopped {
            outcome.status = Status::NotRun;
            outcome.errors.push(Diagnostic::new(format!(
                "not run: `{failed}` failed before it"
            )));
        } else if !keys.is_empty()
            || (args.apply && args.allow_delete && !outcome.removed.is_empty())
        {
            let mut stdout_sink: Box<dyn Sink + '_> = match ui.format {
                OutputFormat::Text => Box::new(report::Text {
                    out: &mut out,
                    verbose: global.verbose > 0,
                }),
                OutputFormat::Json => Box::new(report::Json::new(&mut out)),
                OutputFormat::Markdown | OutputFormat::Html => {
                    Box::new(report::Markdown::new(std::io::sink()))
                }
            };
            let mut markdown = report::Markdown::new(&mut outcome.markdown);
            let mut sinks: [&mut dyn Sink; 2] = [stdout_sink.as_mut(), &mut markdown];
            let result = run_env(ui, global, args, &change, project, &keys, &mut sinks, open);
            drop(stdout_sink);
            match result {
                Ok(EnvRun { summary, failed }) => {
                    outcome.summary = Some(summary);
                    outcome.status = if failed || summary.has_errors() {
                        Status::Failed
                    } else if args.apply {
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
            if args.apply && args.allow_delete && outcome.status == Status::Applied {
                outcome.forgotten = forget(global, args, &change, &env, &outcome.removed, ui);
            }
            if let (Some(remote), true, false) = (&args.state_remote, args.apply, args.dry_run) {
                if let Err(e) = state::sync::push(&global.repo, remote) {
                    outcome.status = Status::Failed;
                    outcome.errors.push(
                        Diagnostic::new(format!("{e:#}"))
                            .context(&env, None)
                            .hint("what was applied is recorded in this clone only: push refs/promote/state by hand, or run the job again"),
                    );
                }
            }
        }
        if outcome.status == Status::Failed && args.apply {
            stopped = Some(env.clone());
        }
        for d in &outcome.errors {
            ui.diagnostic(d);
        }
        if open {
            open = write_env_end(&mut out, ui.format, &outcome, args).is_ok();
        }
        outcomes.push(outcome);
    }

    let markdown = summary_markdown(action, &change, args.shard, &outcomes);
    if open {
        let _ = match ui.format {
            OutputFormat::Text => writeln!(out, "{}", totals_text(&outcomes)),
            OutputFormat::Json => writeln!(
                out,
                "\n],\n\"summary\": {}}}",
                serde_json::to_string(&totals(&outcomes)).unwrap_or_default()
            ),
            OutputFormat::Markdown | OutputFormat::Html => out.write_all(markdown.as_bytes()),
        };
    }
    let _ = out.flush();
    drop(out);
    write_summary(ui, args, &markdown)?;

    let failed = outcomes.iter().any(|o| o.status == Status::Failed);
    let changes = outcomes
        .iter()
        .any(|o| o.summary.is_some_and(|s| s.has_changes()));
    if let Some(env) = &stopped {
        ui.note(&format!(
            "error: `{env}` failed; the environments after it were not run. Run the job again to finish: what is done is not changed again"
        ));
    }
    Ok(if failed {
        Exit::Error
    } else if !args.apply && args.detailed_exitcode && changes {
        Exit::Changes
    } else {
        Exit::Ok
    })
}

/// Renders and validates every tenant to be applied, in every environment, before anything is
/// sent: a change that breaks prod is not half promoted. Prints the problems and returns false
/// when there are any.
fn validate_all(ui: &Ui, change: &Change, projects: &[Project], shard: Option<Shard>) -> bool {
    let mut problems: Vec<Diagnostic> = Vec::new();
    for project in projects {
        let keys = ci::selection(&change.affected, &project.env.name, shard);
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
        return true;
    }
    for d in &problems {
        ui.diagnostic(d);
    }
    ui.note("nothing was applied: the head commit has errors");
    false
}

/// What running one environment gave.
struct EnvRun {
    summary: Summary,
    /// A tenant failed to apply, or the state could not be recorded.
    failed: bool,
}

/// Plans or applies the tenants `keys` of one environment, writing its report to `sinks`.
#[allow(clippy::too_many_arguments)]
fn run_env(
    ui: &Ui,
    global: &GlobalArgs,
    args: &CiArgs,
    change: &Change,
    project: &Project,
    keys: &[String],
    sinks: &mut [&mut dyn Sink],
    open: bool,
) -> Result<EnvRun, Vec<Diagnostic>> {
    let env = &project.env;
    // No key is no tenant here (a change that only removes entries), not every tenant as for
    // `--tenant`.
    let tenants = if keys.is_empty() {
        Vec::new()
    } else {
        project.select(keys)?
    };
    if args.apply && !args.dry_run {
        gate::check(&global.repo, env, gate::Head::Commit(change.head_commit))
            .map_err(|d| vec![d.context(&env.name, None)])?;
    }
    let header = Header {
        version: 1,
        env: env.name.clone(),
        against: "live".into(),
        mode: args.mode.into(),
        action: args.apply.then(|| action(args).to_owned()),
    };
    // Connect before the report begins, so that a failure leaves no half-written report.
    let live = if tenants.is_empty() {
        None
    } else {
        Some(super::open_live(ui, global, env, &tenants)?)
    };
    let mut open = [open, true];
    for (i, sink) in sinks.iter_mut().enumerate() {
        open[i] = open[i] && sink.begin(&header).is_ok();
    }
    let bar = progress::bar(
        tenants.len(),
        &format!("{} {}", action(args), env.name),
        ui.quiet,
    );
    let mut emit = |report: &plan::TenantPlan| {
        bar.inc(1);
        for (i, sink) in sinks.iter_mut().enumerate() {
            if open[i] {
                open[i] = sink.tenant(report).is_ok();
            }
        }
    };
    let (summary, failed) = match live {
        None => (Summary::default(), false),
        Some(live) if args.apply => {
            let options = Options {
                mode: args.mode.into(),
                dry_run: args.dry_run,
                allow_delete: args.allow_delete,
                force: args.force,
                rotate_secrets: false,
                backups: promote_lib::files::work_dir(&global.repo)
                    .map_err(|d| vec![d])?
                    .join("backups"),
                source: Some(change.head_commit.to_string()),
                invent_secrets: env.file.target.emulator.is_some(),
                // Every tenant the change affects in this environment (or in this shard).
                complete: true,
            };
            let applied =
                apply::fleet::run(&global.repo, project, &live, &tenants, &options, |r| {
                    if r.report.outcome == Some(Outcome::Failed) {
                        for d in &r.report.errors {
                            bar.suspend(|| ui.diagnostic(d));
                        }
                    }
                    emit(&r.report)
                })
                .map_err(|e| vec![Diagnostic::new(format!("{e:#}"))])?;
            let mut failed = applied.failed > 0;
            if let Err(e) = applied.recorded {
                bar.suspend(|| {
                ui.diagnostic(
                    &Diagnostic::new(format!(
                        "the changes were applied but the last-applied state could not be recorded: {e:#}"
                    ))
                    .context(&env.name, None)
                    .hint("run the job again to record them"),
                )
            });
                failed = true;
            }
            (applied.summary, failed)
        }
        Some(live) => {
            let baseline = Baseline::Live(Box::new(live));
            let summary = plan::plan(project, &tenants, &baseline, header.mode, |p| {
                for d in &p.errors {
                    bar.suspend(|| ui.diagnostic(d));
                }
                emit(&p)
            });
            (summary, false)
        }
    };
    bar.finish_and_clear();
    for (i, sink) in sinks.iter_mut().enumerate() {
        if open[i] {
            let _ = sink.end(&summary);
        }
    }
    Ok(EnvRun { summary, failed })
}

/// Removes the last-applied state of the tenants the change deleted from `env`. The platform
/// keeps them: the API cannot delete a tenant, and emptying one would also remove the system
/// workspace promote signs in through.
fn forget(
    global: &GlobalArgs,
    args: &CiArgs,
    change: &Change,
    env: &str,
    removed: &[String],
    ui: &Ui,
) -> bool {
    if removed.is_empty() || args.dry_run {
        return false;
    }
    let source = change.head_commit.to_string();
    let lines: Vec<String> = removed
        .iter()
        .map(|k| {
            format!("{k}: forgotten (its entry was deleted; the platform tenant is not changed)")
        })
        .collect();
    let result = state::Recorder::new(&global.repo, env).and_then(|mut rec| {
        for key in removed {
            rec.forget(key)?;
        }
        rec.commit(&state::message(env, &lines, Some(&source)), false)
    });
    match result {
        Ok(_) => true,
        Err(e) => {
            ui.diagnostic(
                &Diagnostic::new(format!("cannot forget the deleted tenants: {e:#}"))
                    .context(env, None),
            );
            false
        }
    }
}

fn json<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "null".into())
}

/// Closes one environment's part of the report.
fn write_env_end(
    out: &mut impl Write,
    format: OutputFormat,
    o: &EnvOutcome,
    args: &CiArgs,
) -> std::io::Result<()> {
    match format {
        OutputFormat::Json => {
            let ran = o.summary.is_some();
            let rest = serde_json::to_string(o).unwrap_or_else(|_| "{}".into());
            // `"report":` was written before the environment ran; null when it did not.
            write!(out, "{},{}", if ran { "" } else { "null" }, &rest[1..])
        }
        OutputFormat::Text => {
            if o.summary.is_none() {
                writeln!(out, "{}: {}", o.env, o.status.text())?;
            }
            if !o.removed.is_empty() {
                let what = if o.forgotten {
                    "forgotten (their last-applied state was removed; the platform tenants are not changed)".to_owned()
                } else if args.apply {
                    "kept on the platform and in the state (--allow-delete forgets them)".to_owned()
                } else {
                    "kept on the platform (the API cannot delete a tenant)".to_owned()
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
        OutputFormat::Markdown | OutputFormat::Html => Ok(()),
    }
}

/// Totals over the environments, for the JSON report.
#[derive(Debug, Serialize)]
struct Totals {
    environments: usize,
    tenants: usize,
    with_changes: usize,
    errors: usize,
    removed: usize,
    failed: Option<String>,
}

fn totals(outcomes: &[EnvOutcome]) -> Totals {
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

fn totals_text(outcomes: &[EnvOutcome]) -> String {
    let t = totals(outcomes);
    let mut text = format!(
        "{} environment(s): {} tenant(s) run, {} with changes, {} error(s)",
        t.environments, t.tenants, t.with_changes, t.errors
    );
    if t.removed > 0 {
        text.push_str(&format!(", {} removed from the repository", t.removed));
    }
    if let Some(env) = t.failed {
        text.push_str(&format!("; `{env}` failed"));
    }
    text
}

/// The markdown summary: a table of the environments, then each one's report.
fn summary_markdown(
    action: &str,
    change: &Change,
    shard: Option<Shard>,
    outcomes: &[EnvOutcome],
) -> String {
    let mut text = format!(
        "## promote ci {action}: `{}`..`{}`{}\n\n| environment | status | tenants | with changes | errors | removed from the repository |\n|---|---|---:|---:|---:|---|\n",
        change
            .base_commit
            .map(|c| short(&c.to_string()).to_owned())
            .unwrap_or_else(|| "none".into()),
        short(&change.head_commit.to_string()),
        shard.map(|s| format!(" (shard {s})")).unwrap_or_default()
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

/// Writes the markdown summary to `--summary FILE`, or appends it to `$GITHUB_STEP_SUMMARY`.
fn write_summary(ui: &Ui, args: &CiArgs, markdown: &str) -> Result<(), super::Failure> {
    use std::fs::OpenOptions;
    let (path, append) = match (&args.summary, std::env::var_os("GITHUB_STEP_SUMMARY")) {
        (Some(p), _) => (p.clone(), false),
        (None, Some(p)) if !p.is_empty() => (PathBuf::from(p), true),
        _ => return Ok(()),
    };
    let mut file = OpenOptions::new()
        .create(true)
        .write(true)
        .append(append)
        .truncate(!append)
        .open(&path)
        .map_err(|e| anyhow::anyhow!("cannot write the summary to {}: {e}", path.display()))?;
    file.write_all(markdown.as_bytes())
        .map_err(|e| anyhow::anyhow!("cannot write the summary to {}: {e}", path.display()))?;
    ui.note(&format!("summary written to {}", path.display()));
    Ok(())
}

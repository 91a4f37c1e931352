//! `promote apply`: push each tenant's plan to the platform, check it took, record the state.

use rayon::prelude::*;

use super::plan::{sink, DriftArg, ModeArg};
use super::{CommandResult, Exit, Failure, GlobalArgs, Ui};
use promote_lib::apply::{self, Options};
use promote_lib::diagnostic::Diagnostic;
use promote_lib::pipeline::Project;
use promote_lib::plan::{Header, Outcome};
use promote_lib::progress;
use promote_lib::source::RepoFiles;

/// Apply the repository to the environment's tenants: plan against live, push the patches,
/// check that they took, and record what was applied in refs/promote/state
#[derive(Debug, clap::Args)]
pub struct ApplyArgs {
    /// Environment to apply (environments/<ENV>.yaml); with --plan, the plan's by default
    #[arg(long, required_unless_present = "plan")]
    pub env: Option<String>,
    /// Only this tenant (key or ID, or key:KEY, id:ID); repeatable
    #[arg(long = "tenant", value_name = "TENANT")]
    pub tenants: Vec<String>,
    /// Conflict resolution where the platform and the repository both changed a path since the
    /// last apply
    #[arg(long, value_enum, default_value_t = ModeArg::Update)]
    pub mode: ModeArg,
    /// Drift (a path the platform changed and the repository did not since the last apply):
    /// restore the repository's value, or keep the platform's and send only what the
    /// repository changed
    #[arg(long, value_enum, default_value_t = DriftArg::Restore)]
    pub drift: DriftArg,
    /// Send everything with dry_run=true: the platform validates and changes nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Allow removing whole objects (clients, policies, workspaces, ...) the repository dropped
    #[arg(long)]
    pub allow_delete: bool,
    /// Allow removing more than a fifth of a tenant's objects (with --allow-delete)
    #[arg(long)]
    pub force: bool,
    /// Send every secret() credential again, not only those of objects being created
    #[arg(long)]
    pub rotate_secrets: bool,
    /// Write without asking (needed where there is no terminal to ask on, as in CI)
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Apply exactly the saved plan FILE (`promote plan --save FILE`): a tenant the platform
    /// changed since at a path the plan relies on is refused
    #[arg(long, value_name = "FILE", conflicts_with_all = ["tenants", "mode", "rotate_secrets"])]
    pub plan: Option<std::path::PathBuf>,
    /// With --plan: apply a plan made from another commit than HEAD
    #[arg(long, requires = "plan")]
    pub allow_other_commit: bool,
    #[command(flatten)]
    pub lock: super::lock::LockArgs,
}

pub fn run(ui: &Ui, global: &GlobalArgs, args: &ApplyArgs) -> CommandResult {
    if let Some(path) = &args.plan {
        return super::apply_plan::run(ui, global, args, path);
    }
    let env = args.env.as_deref().unwrap_or_default();
    let files = RepoFiles::from_work_tree(&global.repo)?;
    let project = Project::open(&files, env)?;
    let tenants = project.select(&args.tenants)?;
    // A repository with errors is refused as such before anything else; the tenants are
    // rendered for that alone only when something else refuses the apply before its plan.
    let refused = |failure: Failure| -> Failure {
        let invalid: Vec<Diagnostic> = tenants
            .par_iter()
            .filter_map(|t| project.desired(t).err())
            .flatten()
            .collect();
        if invalid.is_empty() {
            return failure;
        }
        ui.note("nothing was applied: the repository has errors");
        invalid.into()
    };
    // From the first read of the state to the last record; a dry run writes nothing.
    let _lock = (!args.dry_run)
        .then(|| super::lock::hold(ui, global, &args.lock, &project.env.name, "apply"))
        .transpose()
        .map_err(refused)?;
    promote_lib::credentials::secrets::check_file().map_err(|d| refused(d.into()))?;
    // The promotion gate (`requires:`); a dry run changes nothing and is not gated.
    if !args.dry_run {
        promote_lib::gate::check(
            &global.repo,
            &project,
            &tenants,
            promote_lib::gate::Head::WorkTree,
        )
        .map_err(|d| refused(d.into()))?;
    }
    let live =
        super::open_live(ui, global, &project.env, &tenants).map_err(|d| refused(d.into()))?;
    let options = Options {
        mode: args.mode.into(),
        drift: args.drift.into(),
        dry_run: args.dry_run,
        allow_delete: args.allow_delete,
        force: args.force,
        rotate_secrets: args.rotate_secrets,
        backups: promote_lib::files::backups_dir(&global.repo)?,
        source: promote_lib::saved::head_commit(&global.repo),
        invent_secrets: project.env.file.target.emulator.is_some(),
        complete: args.tenants.is_empty(),
    };
    // Every tenant is rendered and planned once, before anything is sent: one invalid tenant
    // and nothing is applied. The plans that send something are held until they are sent.
    let bar = progress::bar(tenants.len(), &format!("plan {env}"), ui.quiet);
    let plans = apply::fleet::plan(&project, &live, &tenants, &options, || bar.inc(1));
    bar.finish_and_clear();
    let invalid: Vec<Diagnostic> = plans.invalid();
    if !invalid.is_empty() {
        ui.note("nothing was applied: the repository has errors");
        return Err(invalid.into());
    }
    if let Some(line) = project.warnings_line() {
        ui.warn(&line);
    }
    let fleet = (&project, &live, &tenants[..]);
    send(ui, global, args, fleet, plans, &options)
}

/// Where an apply sends: the environment's project, its platform and the tenants.
pub(super) type Fleet<'a, 'p> = (
    &'a Project<'p>,
    &'a promote_lib::baseline::Live,
    &'a [&'a promote_lib::environment::Tenant],
);

/// Asks for consent, sends the plans, prints the report and records what was applied: the
/// end of `promote apply`, with plans made now or read from a saved plan.
pub(super) fn send(
    ui: &Ui,
    global: &GlobalArgs,
    args: &ApplyArgs,
    (project, live, tenants): Fleet<'_, '_>,
    plans: apply::fleet::Plans,
    options: &Options,
) -> CommandResult {
    super::warn_foreign(ui, &global.repo, &project.env.name, tenants)?;
    let env = project.env.name.as_str();
    // A dry run writes nothing, and a plan that sends nothing has nothing to consent to.
    if !args.dry_run && plans.sends() {
        super::consent::ask(&super::consent::Request {
            yes: args.yes,
            question: format!("Apply these changes to {env}?"),
            shown: format!(
                "Plan for {env}:\n{}",
                super::consent::summary(plans.reports())
            ),
            done: "applied",
        })?;
    }
    let header = Header {
        version: promote_lib::plan::REPORT_VERSION,
        env: project.env.name.clone(),
        against: "live".into(),
        mode: options.mode,
        drift: options.drift,
        ignore: project.ignore_rules(tenants),
        action: Some(
            if args.dry_run {
                "apply (dry run)"
            } else {
                "apply"
            }
            .into(),
        ),
    };
    let mut sink = sink(ui, global);
    let mut open = sink.begin(&header).is_ok();
    // Which tenants failed, and whether any was applied: what the closing line says.
    let mut failed_keys: Vec<String> = Vec::new();
    let mut applied_any = false;
    let bar = progress::bar(tenants.len(), &format!("apply {env}"), ui.quiet);
    let applied = apply::fleet::send(
        &global.repo,
        project,
        live,
        tenants,
        plans,
        options,
        |result| {
            bar.inc(1);
            let r = &result.report;
            let failed = matches!(r.outcome, Some(Outcome::Failed | Outcome::PartlyApplied));
            if failed {
                failed_keys.push(r.key.clone());
            }
            applied_any |= matches!(r.outcome, Some(Outcome::Applied | Outcome::PartlyApplied));
            if failed && ui.format != super::OutputFormat::Text {
                for d in &r.errors {
                    bar.suspend(|| ui.diagnostic(d));
                }
            }
            if open {
                open = sink.tenant(r).is_ok();
            }
        },
    )?;
    bar.finish_and_clear();
    if open {
        let _ = sink.end(&applied.summary);
    }
    if let Err(e) = applied.recorded {
        ui.failure(&super::Failure::from(Diagnostic::new(format!(
            "the changes were applied but the last-applied state could not be recorded: {}",
            e.message
        )).hint(format!("the platform has them and the next plan shows nothing to send, but until they are recorded the promotion gates do not know this commit reached {env} and a later removal of what this apply added is not planned: run `promote apply --env {env}` again to record them"))));
        return Ok(Exit::Error);
    }
    let failed = applied.failed;
    if failed > 0 {
        ui.note(&closing(
            env,
            failed,
            applied_any,
            &failed_keys,
            args.plan.is_some(),
        ));
        return Ok(Exit::Error);
    }
    Ok(Exit::Ok)
}

/// The closing line of an apply in which `failed` tenants (`keys`) failed: whether the others
/// were applied, and what to do next. Running apply again finishes what an interruption or
/// the platform stopped, and cannot help a refusal (a `--mode fail` conflict, a removal
/// without --allow-delete, a saved plan the platform no longer fits): each error says what can.
fn closing(env: &str, failed: usize, applied_any: bool, keys: &[String], saved: bool) -> String {
    let others = if applied_any {
        "; the others were applied"
    } else {
        "; nothing was applied"
    };
    let next = if saved {
        let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
        format!(
            "Do what each error says: a tenant whose platform no longer fits the plan is planned again and reviewed ({}); a removal needs `promote apply --plan FILE --allow-delete`. What is done is not changed again",
            promote_lib::saved::plan_again(env, &keys)
        )
    } else {
        "Do what each error says (a `--mode fail` conflict: settle it in the repository or on the platform, or choose another --mode; a removal: --allow-delete), then run apply again: what is done is not changed again".to_owned()
    };
    format!("error: {failed} tenant(s) failed or were partly applied (see above){others}. {next}")
}

//! `promote rollback`: patch a tenant back to a backup apply saved.

use super::plan::sink;
use super::{CommandResult, Exit, GlobalArgs, OutputFormat, Ui};
use promote_lib::apply;
use promote_lib::environment::Tenant;
use promote_lib::patch::three_way::Mode;
use promote_lib::pipeline::Project;
use promote_lib::plan::{Header, Outcome, Summary};
use promote_lib::rollback;

/// Patch a tenant back to a backup that apply saved before writing (the latest an apply took,
/// by default), showing the plan first
#[derive(Debug, clap::Args)]
pub struct RollbackArgs {
    /// Environment of the tenant
    #[arg(long)]
    pub env: String,
    /// The tenant (key or ID, or key:KEY, id:ID)
    #[arg(long)]
    pub tenant: String,
    /// Backup to restore: a file, or a name among the tenant's backups (default: the latest
    /// one an apply took; those a rollback took are restored only when named)
    #[arg(long, value_name = "BACKUP", conflicts_with = "list")]
    pub to: Option<String>,
    /// List the tenant's backups, newest first (name, when, what took it, source commit), and
    /// change nothing
    #[arg(long)]
    pub list: bool,
    /// Allow removing whole objects (clients, policies, workspaces, ...) created since the
    /// backup
    #[arg(long)]
    pub allow_delete: bool,
    /// Allow removing more than a fifth of the tenant's objects (with --allow-delete)
    #[arg(long)]
    pub force: bool,
    /// Write without asking (needed where there is no terminal to ask on, as in CI)
    #[arg(long, short = 'y')]
    pub yes: bool,
    #[command(flatten)]
    pub lock: super::lock::LockArgs,
}

pub fn run(ui: &Ui, global: &GlobalArgs, args: &RollbackArgs) -> CommandResult {
    super::with_tenant(global, &args.env, &args.tenant, |project, tenant| {
        roll_back(ui, global, args, project, tenant)
    })
}

fn roll_back(
    ui: &Ui,
    global: &GlobalArgs,
    args: &RollbackArgs,
    project: &Project,
    tenant: &Tenant,
) -> CommandResult {
    let tenants = [tenant];
    // This work tree's backups, and those of the repository's other work trees.
    let searched = promote_lib::files::backup_dirs(&global.repo)?;
    if args.list {
        let listed = rollback::list(&searched, &args.env, tenant)?;
        print_list(ui, &listed);
        return Ok(Exit::Ok);
    }
    // Listing writes nothing; a rollback holds the environment from here to its end.
    let _lock = super::lock::hold(ui, global, &args.lock, &project.env.name, "rollback")?;
    let chosen = rollback::choose(&searched, &args.env, tenant, args.to.as_deref())?;
    rollback::check_owner(&chosen, &args.env, tenant)?;
    let live = super::open_live(ui, global, &project.env, &tenants)?;
    let prepared = rollback::prepare(
        &live,
        (tenant, project.ignore(tenant)),
        &chosen,
        apply::Deletes {
            allow: args.allow_delete,
            force: args.force,
        },
    )?;
    let header = Header {
        version: promote_lib::plan::REPORT_VERSION,
        env: project.env.name.clone(),
        against: format!("backup {}", chosen.display()),
        mode: Mode::Update,
        action: Some("rollback".into()),
        drift: Default::default(),
        ignore: project.ignore_rules(&tenants),
    };
    let mut report = prepared.report.clone();
    let mut summary = Summary::default();
    if prepared.report.changes.is_empty() {
        report.outcome = Some(Outcome::Unchanged);
        summary.add(&report);
        let mut out = sink(ui, global);
        let _ = out
            .begin(&header)
            .and_then(|()| out.tenant(&report))
            .and_then(|()| out.end(&summary));
        ui.note(&format!(
            "the tenant already holds the backup {}: nothing to roll back (`--list` shows the others; `--to` names one)",
            chosen.display()
        ));
        return Ok(Exit::Ok);
    }
    super::consent::ask(&super::consent::Request {
        yes: args.yes,
        question: format!(
            "Roll {} of {} back to backup {}?",
            tenant.key,
            args.env,
            chosen.display()
        ),
        shown: format!(
            "Rollback of {} in {} to backup {}:\n{}",
            tenant.key,
            args.env,
            chosen.display(),
            super::consent::summary([Some(&report)])
        ),
        done: "rolled back",
    })?;
    let taken = rollback::Taken {
        by: rollback::TakenBy::Rollback,
        source: None,
    };
    let saved = apply::backup(
        &live,
        tenant,
        &promote_lib::files::backups_dir(&global.repo)?,
        &taken,
    )?;
    let result = promote_lib::activity::tenant("rollback", &args.env, tenant, || {
        rollback::send(&live, tenant, &prepared)
    });
    report.backup = Some(saved.display().to_string());
    let failed = result.is_err();
    match result {
        Ok(()) => report.outcome = Some(Outcome::Applied),
        Err(d) => {
            report.outcome = Some(Outcome::Failed);
            report.status = promote_lib::plan::Status::Error;
            report.errors = vec![d.context(&args.env, Some(&tenant.key))];
        }
    }
    summary.add(&report);
    let mut out = sink(ui, global);
    let _ = out
        .begin(&header)
        .and_then(|()| out.tenant(&report))
        .and_then(|()| out.end(&summary));
    drop(out);
    ui.note(&format!(
        "{} backup {} to {} of {}; the tenant as it was before is saved as backup {}",
        if failed {
            "tried to restore"
        } else {
            "restored"
        },
        chosen.display(),
        tenant.key,
        args.env,
        saved.display()
    ));
    Ok(if failed { Exit::Error } else { Exit::Ok })
}

/// Prints the backups of `rollback --list`: JSON as it is, text one line each.
fn print_list(ui: &Ui, listed: &[rollback::Listed]) {
    if ui.format == OutputFormat::Json {
        ui.json(&listed);
        return;
    }
    if listed.is_empty() {
        ui.note("no backups: apply saves one before it first writes to a tenant");
        return;
    }
    let mut text = String::new();
    for b in listed {
        let by = match b.taken_by {
            Some(rollback::TakenBy::Apply) => "apply",
            Some(rollback::TakenBy::Rollback) => "rollback",
            Some(rollback::TakenBy::Migrate) => "migrate",
            None => "unknown",
        };
        text.push_str(&format!(
            "{}  {}  taken by {by}{}\n",
            b.name,
            b.taken_at.as_deref().unwrap_or("-"),
            b.source
                .as_deref()
                .map(|c| format!(", source {}", c.chars().take(12).collect::<String>()))
                .unwrap_or_default()
        ));
    }
    ui.out(&text);
}

//! `promote rollback`: patch a tenant back to a backup apply saved.

use super::plan::sink;
use super::{CommandResult, Exit, GlobalArgs, Ui};
use promote_lib::apply;
use promote_lib::patch::three_way::Mode;
use promote_lib::pipeline::Project;
use promote_lib::plan::{Header, Outcome, Summary};
use promote_lib::rollback;
use promote_lib::source::RepoFiles;

/// Patch a tenant back to a backup that apply saved before writing (the latest by default),
/// showing the plan first
#[derive(Debug, clap::Args)]
pub struct RollbackArgs {
    /// Environment of the tenant
    #[arg(long)]
    pub env: String,
    /// The tenant (key or ID)
    #[arg(long)]
    pub tenant: String,
    /// Backup to restore: a file, or a name among the tenant's backups (default: the latest)
    #[arg(long, value_name = "BACKUP")]
    pub to: Option<String>,
    /// Do not ask for confirmation on a terminal
    #[arg(long, short = 'y')]
    pub yes: bool,
    #[command(flatten)]
    pub lock: super::lock::LockArgs,
}

pub fn run(ui: &Ui, global: &GlobalArgs, args: &RollbackArgs) -> CommandResult {
    let files = RepoFiles::from_work_tree(&global.repo)?;
    let templates = std::sync::Arc::new(promote_lib::render::Templates::compile(&files)?);
    let project = Project::load(&templates, &args.env)?;
    let tenants = project.select(std::slice::from_ref(&args.tenant))?;
    let _lock = super::lock::hold(ui, global, &args.lock, &project.env.name, "rollback")?;
    let Some(tenant) = tenants.first().copied() else {
        return Ok(Exit::Ok);
    };
    let backups = promote_lib::files::work_dir(&global.repo)?.join("backups");
    let chosen = rollback::choose(&backups, &args.env, tenant, args.to.as_deref())?;
    rollback::check_owner(&chosen, &args.env, tenant)?;
    let live = super::open_live(ui, global, &project.env, &tenants)?;
    let prepared = rollback::prepare(&live, tenant, &chosen)?;
    let header = Header {
        version: promote_lib::plan::REPORT_VERSION,
        env: project.env.name.clone(),
        against: format!("backup {}", chosen.display()),
        mode: Mode::Update,
        action: Some("rollback".into()),
    };
    let mut out = sink(ui, global);
    let mut report = prepared.report.clone();
    let mut summary = Summary::default();
    if prepared.report.changes.is_empty() {
        report.outcome = Some(Outcome::Unchanged);
        summary.add(&report);
        let _ = out
            .begin(&header)
            .and_then(|()| out.tenant(&report))
            .and_then(|()| out.end(&summary));
        ui.note("the tenant already holds the backup: nothing to roll back");
        return Ok(Exit::Ok);
    }
    if !args.yes && super::interactive() {
        let _ = out.begin(&header).and_then(|()| out.tenant(&report));
        drop(out);
        if !super::confirm(&format!(
            "Roll {} of {} back to {}?",
            tenant.key,
            args.env,
            chosen.display()
        )) {
            ui.note("nothing was changed");
            return Ok(Exit::Ok);
        }
        out = sink(ui, global);
    }
    let saved = apply::backup(&live, tenant, &backups)?;
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
    let _ = out
        .begin(&header)
        .and_then(|()| out.tenant(&report))
        .and_then(|()| out.end(&summary));
    Ok(if failed { Exit::Error } else { Exit::Ok })
}

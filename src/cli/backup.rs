//! `promote backup`: every tenant's live configuration as one commit on a branch.

use super::{CommandResult, Exit, GlobalArgs, OutputFormat, Ui};
use promote_lib::backup::{self, Options};
use promote_lib::diagnostic::Diagnostic;
use promote_lib::pipeline::Project;
use promote_lib::progress;
use promote_lib::source::RepoFiles;

/// Back up the live configuration of an environment's tenants: one commit on a branch (the
/// repository layout, no credentials), without touching the work tree or the index; no commit
/// when nothing changed
#[derive(Debug, clap::Args)]
pub struct BackupArgs {
    /// Environment to back up (environments/<ENV>.yaml)
    #[arg(long)]
    pub env: String,
    /// Only this tenant (key or ID, or key:KEY, id:ID); repeatable. The others keep their last backup
    #[arg(long = "tenant", value_name = "TENANT")]
    pub tenants: Vec<String>,
    /// Branch to commit to [default: backups/<ENV>]
    #[arg(long)]
    pub branch: Option<String>,
    /// Commit the tenants that were exported even if some failed (the commit message lists the
    /// missing ones; the exit code is still 1)
    #[arg(long)]
    pub partial: bool,
    /// Push the branch to this remote (a remote's name or a URL) after committing
    #[arg(long, value_name = "REMOTE")]
    pub push: Option<String>,
    #[command(flatten)]
    pub lock: super::lock::LockArgs,
}

pub fn run(ui: &Ui, global: &GlobalArgs, args: &BackupArgs) -> CommandResult {
    let files = RepoFiles::from_work_tree(&global.repo)?;
    let project = Project::open(&files, &args.env)?;
    let tenants = project.select(&args.tenants)?;
    let _lock = super::lock::hold(ui, global, &args.lock, &project.env.name, "backup")?;
    let repo = git2::Repository::discover(&global.repo).map_err(|e| {
        Diagnostic::new(format!(
            "{} is not in a git repository ({}): backups are commits",
            global.repo.display(),
            e.message()
        ))
        .hint("run `git init` there, or pass --repo")
    })?;
    let options = Options {
        branch: args
            .branch
            .clone()
            .unwrap_or_else(|| backup::default_branch(&args.env)),
        partial: args.partial,
        whole_environment: args.tenants.is_empty(),
    };
    backup::check_branch(&repo, &options.branch)?;
    let previous = backup::previous(&repo, &options.branch)?;
    let live = super::open_live(ui, global, &project.env, &tenants)?;
    let bar = progress::bar(tenants.len(), &format!("backup {}", args.env), ui.quiet);
    let ran = backup::run(
        &repo,
        &project.env,
        &live,
        &tenants,
        &options,
        &previous,
        || bar.inc(1),
    );
    bar.finish_and_clear();
    let outcome = match ran {
        Ok(outcome) => outcome,
        Err(e) => {
            ui.failure(&super::Failure::from(e));
            return Ok(Exit::Error);
        }
    };
    for (_, problems) in outcome.failed() {
        for d in problems {
            ui.diagnostic(d);
        }
    }
    let commit = match outcome.commit {
        Ok(c) => c,
        Err(e) => {
            ui.failure(&super::Failure::from(e));
            return Ok(Exit::Error);
        }
    };
    if ui.format == OutputFormat::Text {
        ui.out(&backup::text(&options.branch, &outcome.tenants, commit));
    } else {
        ui.json(&backup::Report::new(
            &args.env,
            &options.branch,
            &outcome.tenants,
            commit,
        ));
    }
    if let Some(remote) = &args.push {
        if let Err(e) = backup::push(&repo, remote, &options.branch) {
            ui.failure(&super::Failure::from(e));
            return Ok(Exit::Error);
        }
        ui.note(&format!(
            "pushed {} to {}",
            options.branch,
            promote_lib::scrub::remote(remote)
        ));
    }
    let failed = outcome.failed().count();
    Ok(if failed == 0 { Exit::Ok } else { Exit::Error })
}

//! `promote apply --plan FILE`: apply exactly a saved plan ([`promote_lib::saved`]).

use std::path::Path;

use super::apply::{send, ApplyArgs};
use super::{CommandResult, GlobalArgs, Ui};
use promote_lib::apply::{self, Options};
use promote_lib::diagnostic::Diagnostic;
use promote_lib::pipeline::Project;
use promote_lib::saved::{self, Fit, PlanFile};
use promote_lib::source::RepoFiles;

pub fn run(ui: &Ui, global: &GlobalArgs, args: &ApplyArgs, path: &Path) -> CommandResult {
    let file = PlanFile::read(path)?;
    if let Some(env) = args.env.as_deref() {
        file.check_env(path, env)
            .map_err(|d| d.hint("give the plan of this environment, or leave --env out"))?;
    }
    let source = check_commit(ui, global, &file, args.allow_other_commit)?;
    // The plan is applied as its commit renders, whatever the work tree holds.
    let files = RepoFiles::from_revision(&global.repo, &file.commit)?;
    let project = Project::open(&files, &file.env)?;
    let tenants = file.select(&project)?;
    let _lock = (!args.dry_run)
        .then(|| super::lock::hold(ui, global, &args.lock, &project.env.name, "apply"))
        .transpose()?;
    promote_lib::credentials::secrets::check_file()?;
    if !args.dry_run {
        let commit = git2::Oid::from_str(&file.commit).map_err(|_| {
            Diagnostic::new(format!(
                "the plan file {} names no commit (`{}`)",
                path.display(),
                file.commit
            ))
        })?;
        promote_lib::gate::check(
            &global.repo,
            &project,
            &tenants,
            promote_lib::gate::Head::Commit(commit),
        )?;
    }
    let live = super::open_live(ui, global, &project.env, &tenants)?;
    let options = Options {
        mode: file.mode(),
        drift: file.drift,
        dry_run: args.dry_run,
        allow_delete: args.allow_delete,
        force: args.force,
        rotate_secrets: false,
        backups: promote_lib::files::backups_dir(&global.repo)?,
        source: Some(source),
        invent_secrets: project.env.file.target.emulator.is_some(),
        complete: file.complete,
    };
    let plans = apply::fleet::Plans::saved(&project, &tenants, file.tenants);
    let fleet = (&project, &live, &tenants[..]);
    send(ui, global, args, fleet, plans, &options)
}

/// Refuses a plan made from another commit than HEAD, unless HEAD's configuration is the
/// plan's (a merge commit of the reviewed branch) or `allow_other` (`--allow-other-commit`).
/// Returns the commit to record as the source of what is applied: HEAD when it renders the
/// same, else the plan's.
fn check_commit(
    ui: &Ui,
    global: &GlobalArgs,
    file: &PlanFile,
    allow_other: bool,
) -> Result<String, Diagnostic> {
    let head = saved::head_commit(&global.repo).unwrap_or_else(|| "(no commit)".to_owned());
    let fit = file.fit(&head, || saved::config_tree(&global.repo, "HEAD").ok());
    if fit == Fit::SameCommit {
        return Ok(file.commit.clone());
    }
    if fit == Fit::SameConfiguration {
        ui.note(&format!(
            "the plan was made from commit {}, and HEAD ({}) has the same configuration: applying it",
            file.short_commit(),
            short(&head)
        ));
        return Ok(head);
    }
    if allow_other {
        ui.warn(&format!(
            "the plan was made from commit {}, not HEAD ({}); applying it as --allow-other-commit asks",
            file.short_commit(),
            short(&head)
        ));
        return Ok(file.commit.clone());
    }
    Err(Diagnostic::new(format!(
        "the plan was made from commit {}, and HEAD ({}) has another configuration",
        file.short_commit(),
        short(&head)
    ))
    .hint("plan again from HEAD (`promote plan --save`), or apply this plan anyway with --allow-other-commit"))
}

/// The first 12 digits of a commit ID.
fn short(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}

//! `promote backup`: every tenant's live configuration as one commit on a branch.

use serde_json::json;

use super::{CommandResult, Exit, GlobalArgs, OutputFormat, Ui};
use promote_lib::backup::{self, Options, Previous};
use promote_lib::diagnostic::Diagnostic;
use promote_lib::export::Changes;
use promote_lib::parallel;
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
    /// Only this tenant (key or ID); repeatable. The others keep their last backup
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
}

pub fn run(ui: &Ui, global: &GlobalArgs, args: &BackupArgs) -> CommandResult {
    let files = RepoFiles::from_work_tree(&global.repo)?;
    let templates = std::sync::Arc::new(promote_lib::render::Templates::compile(&files)?);
    let project = Project::load(&templates, &args.env)?;
    let tenants = project.select(&args.tenants)?;
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
    let previous: Previous = backup::previous(&repo, &options.branch)?;
    let live = super::open_live(ui, global, &project.env, &tenants)?;
    let handles = backup::Handles::new(&repo);
    let bar = progress::bar(tenants.len(), &format!("backup {}", args.env), ui.quiet);
    let mut results = Vec::with_capacity(tenants.len());
    // Objects go to packs as tenants finish, a few megabytes at a time.
    let writer = backup::ObjectWriter::start(repo.path());
    parallel::ordered(
        &tenants,
        live.concurrency,
        |t| {
            let before = promote_lib::keys::encode(&t.key)
                .ok()
                .and_then(|name| previous.tenants.get(&name).copied());
            backup::tenant(&handles, &live, &project.env, t, before)
        },
        |mut r: Result<backup::Exported, _>| {
            bar.inc(1);
            if let Ok(exported) = &mut r {
                writer.add(std::mem::take(&mut exported.objects));
            }
            results.push(r);
        },
    );
    bar.finish_and_clear();
    drop(handles);

    let mut done = Vec::new();
    let mut failed = Vec::new();
    let mut rows = Vec::new();
    if let Err(e) = writer.finish() {
        ui.failure(&super::Failure::Other(e.context("nothing was committed")));
        return Ok(Exit::Error);
    }
    let empty = Changes::default();
    for (t, result) in tenants.iter().zip(&results) {
        match result {
            Ok(exported) => {
                let (tree, changes) = (&exported.tree, &exported.changes);
                done.push((*t, *tree, changes));
                rows.push(json!({"key": t.key, "id": t.id, "changes": changes}));
            }
            Err(problems) => {
                failed.push(*t);
                for d in problems {
                    ui.diagnostic(d);
                }
                rows.push(json!({"key": t.key, "id": t.id, "changes": empty, "errors": problems.iter().map(|d| d.to_string()).collect::<Vec<_>>()}));
            }
        }
    }
    let committed = backup::commit(&repo, &args.env, &options, &previous, &done, &failed);
    let commit = match committed {
        Ok(c) => c,
        Err(e) => {
            ui.failure(&super::Failure::Other(e));
            return Ok(Exit::Error);
        }
    };
    let changed: Vec<_> = done.iter().filter(|(_, _, c)| !c.is_empty()).collect();
    if ui.format == OutputFormat::Text {
        for (t, _, c) in &changed {
            ui.out(&format!("{} ({}): {c}\n", t.key, t.id));
        }
        match commit {
            Some(id) => ui.out(&format!(
                "committed {} on {}: {} tenant(s) changed, {} unchanged{}\n",
                &id.to_string()[..12],
                options.branch,
                changed.len(),
                done.len() - changed.len(),
                if failed.is_empty() {
                    String::new()
                } else {
                    format!(", {} missing", failed.len())
                }
            )),
            None => ui.out(&format!(
                "nothing changed in {} tenant(s): no commit on {}\n",
                done.len(),
                options.branch
            )),
        }
    } else {
        ui.json(&json!({
            "version": 1,
            "env": args.env,
            "branch": options.branch,
            "commit": commit.map(|c| c.to_string()),
            "tenants": rows,
        }));
    }
    if let Some(remote) = &args.push {
        if let Err(e) = backup::push(&repo, remote, &options.branch) {
            ui.failure(&super::Failure::Other(e));
            return Ok(Exit::Error);
        }
        ui.note(&format!("pushed {} to {remote}", options.branch));
    }
    Ok(if failed.is_empty() {
        Exit::Ok
    } else {
        Exit::Error
    })
}

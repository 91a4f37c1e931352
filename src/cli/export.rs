//! `promote export`: live tenants → YAML directories in the repository layout.

use std::path::{Path, PathBuf};

use serde_json::json;

use super::{CommandResult, Exit, GlobalArgs, OutputFormat, Ui};
use promote_lib::diagnostic::Diagnostic;
use promote_lib::export::{self, Changes};
use promote_lib::keys;
use promote_lib::parallel;
use promote_lib::pipeline::Project;
use promote_lib::progress;
use promote_lib::schema;
use promote_lib::source::RepoFiles;

/// Export live tenants to YAML directories in the repository layout (DIR/<tenant key>/), each
/// file a template that renders back to what the platform holds
#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// Environment whose tenants to export (environments/<ENV>.yaml)
    #[arg(long)]
    pub env: String,
    /// Only this tenant (key or ID); repeatable
    #[arg(long = "tenant", value_name = "TENANT")]
    pub tenants: Vec<String>,
    /// Directory to write DIR/<tenant key>/ into (e.g. templates, to bootstrap templates)
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Include credentials (client secrets, keys); files are then written mode 0600
    #[arg(long)]
    pub with_credentials: bool,
    /// With --with-credentials, allow writing inside the git work tree (where a commit could
    /// take them)
    #[arg(long, requires = "with_credentials")]
    pub allow_secrets_in_repo: bool,
    /// Replace the tenant ID and the values of the environment's and tenant's variables with
    /// {{ tenant.id }} and {{ vars.NAME }}, where rendering gives back exactly the export
    #[arg(long)]
    pub templatize: bool,
}

pub fn run(ui: &Ui, global: &GlobalArgs, args: &ExportArgs) -> CommandResult {
    if args.with_credentials && !args.allow_secrets_in_repo {
        refuse_work_tree(&args.out)?;
    }
    // Into promote's own directory: only when it is what promote keeps it (a plain directory
    // that git ignores and tracks nothing in).
    let absolute = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    if absolute(&args.out).starts_with(absolute(&global.repo).join(promote_lib::files::WORK_DIR)) {
        promote_lib::files::work_dir(&global.repo)?;
    }
    let files = RepoFiles::from_work_tree(&global.repo)?;
    let templates = std::sync::Arc::new(promote_lib::render::Templates::compile(&files)?);
    let project = Project::load(&templates, &args.env)?;
    let tenants = project.select(&args.tenants)?;
    let live = super::open_live(ui, global, &project.env, &tenants)?;
    let options = export::Options {
        with_credentials: args.with_credentials,
        templatize: args.templatize,
    };
    // Inside the repository, where git keeps them, files name their JSON Schema for editors
    // (`promote schema`); a throwaway export into an ignored place such as .promote/ does not.
    std::fs::create_dir_all(&args.out)
        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", args.out.display()))?;
    let depth = schema::depth_in(&global.repo, &args.out)
        .filter(|_| promote_lib::files::tracked_work_tree(&args.out).is_some())
        .map(|d| d + 1);
    let bar = progress::bar(tenants.len(), &format!("export {}", args.env), ui.quiet);
    let mut failed = 0;
    let mut report = Vec::new();
    parallel::ordered(
        &tenants,
        live.concurrency,
        |t| {
            let mut files = export::tenant(&live, &project.env, t, options)?;
            if let Some(depth) = depth {
                schema::add_modelines(&mut files, depth);
            }
            let dir = keys::dir_name(&t.key)
                .map_err(|e| e.to_string())
                .and_then(|name| {
                    promote_lib::files::inside(&args.out, &name).map_err(|e| e.to_string())
                })
                .map_err(|e| vec![Diagnostic::new(e).context(&args.env, Some(&t.key))])?;
            export::write_dir(&dir, &files, args.with_credentials)
                .map(|changes| (dir, files.len(), changes))
                .map_err(|e| {
                    vec![Diagnostic::new(format!("{e:#}")).context(&args.env, Some(&t.key))]
                })
        },
        |result| {
            bar.inc(1);
            report.push(result);
        },
    );
    bar.finish_and_clear();
    let mut rows = Vec::new();
    for (t, result) in tenants.iter().zip(report) {
        match result {
            Ok((dir, count, changes)) => {
                if ui.format == OutputFormat::Text {
                    ui.out(&format!(
                        "{} ({}): {} — {count} file(s), {}\n",
                        t.key,
                        t.id,
                        dir.display(),
                        changes_text(&changes)
                    ));
                }
                rows.push(json!({"key": t.key, "id": t.id, "dir": dir, "files": count, "changes": changes}));
            }
            Err(problems) => {
                failed += 1;
                for d in &problems {
                    ui.diagnostic(d);
                }
                rows.push(json!({"key": t.key, "id": t.id, "errors": problems.iter().map(|d| d.to_string()).collect::<Vec<_>>()}));
            }
        }
    }
    let schemas = match depth {
        Some(_) if failed < tenants.len() => Some(write_schemas(ui, global)?),
        _ => None,
    };
    if ui.format != OutputFormat::Text {
        ui.json(&json!({"version": 1, "env": args.env, "tenants": rows, "schemas": schemas}));
    }
    if failed > 0 {
        ui.note(&format!(
            "error: {failed} tenant(s) could not be exported (see above); the others were"
        ));
        return Ok(Exit::Error);
    }
    Ok(Exit::Ok)
}

/// Brings the repository's schema/ up to date, so that the `$schema` lines of exported files
/// lead somewhere; says so when it changed anything.
fn write_schemas(ui: &Ui, global: &GlobalArgs) -> anyhow::Result<schema::Written> {
    let dir = schema::dir_of(&global.repo);
    let written = schema::write(&dir)?;
    let count = written.added.len() + written.changed.len();
    if count > 0 && ui.format == OutputFormat::Text {
        ui.out(&format!(
            "{}: {count} JSON Schema document(s) written for editors (see `promote schema`)\n",
            dir.display()
        ));
    }
    Ok(written)
}

fn changes_text(c: &Changes) -> String {
    if c.is_empty() {
        "unchanged".into()
    } else {
        c.to_string()
    }
}

/// Refuses writing credentials inside a git work tree, unless the place is git-ignored and
/// git tracks nothing there (a tracked file would be overwritten with credentials, and its
/// next commit would take them).
fn refuse_work_tree(out: &Path) -> Result<(), Diagnostic> {
    let Some(workdir) = promote_lib::files::tracked_work_tree(out) else {
        return Ok(());
    };
    let why = match promote_lib::files::tracked_at(out) {
        Some(tracked) => format!(
            "git tracks {tracked} there (a tracked file is committed even when .gitignore names it)"
        ),
        None => "a commit could take them".to_owned(),
    };
    Err(Diagnostic::new(format!(
        "refusing to write credentials to {}: it is inside the git work tree {}, where {why}",
        out.display(),
        workdir.display()
    ))
    .hint("export with credentials outside the repository (or into a git-ignored directory that holds no tracked file, such as .promote/); --allow-secrets-in-repo overrides this"))
}

//! `promote export`: live tenants → YAML directories in the repository layout.

use std::path::PathBuf;

use super::output::Bars;
use super::{CommandResult, Exit, GlobalArgs, OutputFormat, Ui};
use promote_lib::export::{self, Changes, Outcome};
use promote_lib::pipeline::Project;
use promote_lib::source::RepoFiles;

/// Export live tenants to YAML directories in the repository layout (DIR/<tenant key>/), each
/// file a template that renders back to what the platform holds
#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// Environment whose tenants to export (environments/<ENV>.yaml)
    #[arg(long)]
    pub env: String,
    /// Only this tenant (key or ID, or key:KEY, id:ID); repeatable
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
    /// Overwrite files that are not as an earlier export wrote them (hand-written or edited
    /// templates, or any file not exactly in the form export writes, whatever .promote-export
    /// lists: their tags, variables, secret() and comments are lost). Never removes one
    #[arg(long)]
    pub force: bool,
}

pub fn run(ui: &Ui, global: &GlobalArgs, args: &ExportArgs) -> CommandResult {
    export::check_out(
        &global.repo,
        &args.out,
        args.with_credentials,
        args.allow_secrets_in_repo,
    )?;
    let files = RepoFiles::from_work_tree(&global.repo)?;
    let project = Project::open(&files, &args.env)?;
    let tenants = project.select(&args.tenants)?;
    let live = super::open_live(ui, global, &project.env, &tenants)?;
    let options = export::Options {
        with_credentials: args.with_credentials,
        templatize: args.templatize,
        force: args.force,
    };
    let exports = export::run(
        &global.repo,
        &live,
        &project.env,
        &tenants,
        &args.out,
        options,
        &Bars::new(ui.quiet),
    )?;
    for t in &exports.tenants {
        match &t.outcome {
            Outcome::Written {
                dir,
                files,
                changes,
            } => {
                if ui.format == OutputFormat::Text {
                    ui.out(&format!(
                        "{} ({}): {} — {files} file(s), {}\n",
                        t.key,
                        t.id,
                        dir.display(),
                        changes_text(changes)
                    ));
                }
            }
            Outcome::Failed { problems, .. } => {
                for d in problems {
                    ui.diagnostic(d);
                }
            }
        }
    }
    let failed = exports.failed();
    let schemas = match exports.schemas {
        Some(written) => {
            let written = written?;
            let count = written.added.len() + written.changed.len();
            if count > 0 && ui.format == OutputFormat::Text {
                ui.out(&format!(
                    "{}: {count} JSON Schema document(s) written for editors (see `promote schema`)\n",
                    exports.schema_dir.display()
                ));
            }
            Some(written)
        }
        None => None,
    };
    if ui.format != OutputFormat::Text {
        ui.json(&export::Report {
            version: 1,
            env: &args.env,
            tenants: &exports.tenants,
            schemas: schemas.as_ref(),
        });
    }
    if failed > 0 {
        ui.note(&format!(
            "error: {failed} tenant(s) could not be exported (see above); the others were"
        ));
        return Ok(Exit::Error);
    }
    Ok(Exit::Ok)
}

fn changes_text(c: &Changes) -> String {
    // Files kept are always said, even when nothing was written.
    if c.is_empty() && c.kept.is_empty() {
        "unchanged".into()
    } else {
        c.to_string()
    }
}

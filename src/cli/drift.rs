//! `promote drift`: live tenants against the last apply and the repository.

use super::{CommandResult, Exit, GlobalArgs, OutputFormat, Ui};
use promote_lib::drift::{self, Verdict};
use promote_lib::pipeline::Project;
use promote_lib::progress;
use promote_lib::source::RepoFiles;

/// Report how live tenants differ from what promote last applied (changed behind its back) and
/// from the repository (not yet applied). Exit 2 when any tenant differs or was never applied
#[derive(Debug, clap::Args)]
pub struct DriftArgs {
    /// Environment to check (environments/<ENV>.yaml)
    #[arg(long)]
    pub env: String,
    /// Only this tenant (key or ID, or key:KEY, id:ID); repeatable
    #[arg(long = "tenant", value_name = "TENANT")]
    pub tenants: Vec<String>,
}

pub fn run(ui: &Ui, global: &GlobalArgs, args: &DriftArgs) -> CommandResult {
    let files = RepoFiles::from_work_tree(&global.repo)?;
    let project = Project::open(&files, &args.env)?;
    let tenants = project.select(&args.tenants)?;
    let live = super::open_live(ui, global, &project.env, &tenants)?;
    let bar = progress::bar(tenants.len(), &format!("drift {}", args.env), ui.quiet);
    let report = drift::run(&project, &live, &tenants, |d| {
        bar.inc(1);
        if ui.format == OutputFormat::Text {
            let text = drift::text(&args.env, d);
            if !text.is_empty() {
                bar.suspend(|| ui.out(&text));
            }
        }
    });
    bar.finish_and_clear();
    match ui.format {
        OutputFormat::Text => {
            for line in promote_lib::ignore::lines(&report.ignore) {
                ui.out(&format!("{line}\n"));
            }
            ui.out(&format!("{}\n", report.summary.text()))
        }
        OutputFormat::Json => ui.json(&report),
        OutputFormat::Markdown | OutputFormat::Html => ui.out(&drift::markdown(
            &report.env,
            &report.tenants,
            &report.summary,
        )),
    }
    Ok(match report.summary.verdict() {
        Verdict::Errors => Exit::Error,
        Verdict::Differs => Exit::Changes,
        Verdict::InSync => Exit::Ok,
    })
}

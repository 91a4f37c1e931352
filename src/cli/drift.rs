//! `promote drift`: live tenants against the last apply and the repository.

use serde_json::json;

use super::{CommandResult, Exit, GlobalArgs, OutputFormat, Ui};
use promote_lib::drift::{self, Totals};
use promote_lib::parallel;
use promote_lib::pipeline::Project;
use promote_lib::progress;
use promote_lib::source::RepoFiles;

/// Report how live tenants differ from what promote last applied (changed behind its back) and
/// from the repository (not yet applied). Exit 2 when any tenant differs
#[derive(Debug, clap::Args)]
pub struct DriftArgs {
    /// Environment to check (environments/<ENV>.yaml)
    #[arg(long)]
    pub env: String,
    /// Only this tenant (key or ID); repeatable
    #[arg(long = "tenant", value_name = "TENANT")]
    pub tenants: Vec<String>,
}

pub fn run(ui: &Ui, global: &GlobalArgs, args: &DriftArgs) -> CommandResult {
    let files = RepoFiles::from_work_tree(&global.repo)?;
    let templates = std::sync::Arc::new(promote_lib::render::Templates::compile(&files)?);
    let project = Project::load(&templates, &args.env)?;
    let tenants = project.select(&args.tenants)?;
    let live = super::open_live(ui, global, &project.env, &tenants)?;
    let bar = progress::bar(tenants.len(), &format!("drift {}", args.env), ui.quiet);
    let mut totals = Totals::default();
    let mut all = Vec::new();
    parallel::ordered(
        &tenants,
        live.concurrency,
        |t| drift::tenant(&project, &live, t),
        |d| {
            bar.inc(1);
            totals.add(&d);
            if ui.format == OutputFormat::Text {
                let text = drift::text(&d);
                if !text.is_empty() {
                    bar.suspend(|| ui.out(&text));
                }
            }
            all.push(d);
        },
    );
    bar.finish_and_clear();
    match ui.format {
        OutputFormat::Text => ui.out(&format!(
            "{} tenant(s): {} changed on the platform, {} with changes not yet applied, {} in sync, {} error(s)\n",
            totals.tenants, totals.drifted, totals.pending, totals.in_sync, totals.errors
        )),
        OutputFormat::Json => ui.json(&json!({
            "version": 1,
            "env": args.env,
            "tenants": all,
            "summary": totals,
        })),
        OutputFormat::Markdown | OutputFormat::Html => ui.out(&drift::markdown(&args.env, &all, &totals)),
    }
    Ok(if totals.errors > 0 {
        Exit::Error
    } else if totals.in_sync < totals.tenants {
        Exit::Changes
    } else {
        Exit::Ok
    })
}

//! `promote render`: the trees an environment's tenants render to.

use std::path::PathBuf;

use serde_json::{Map, Value};

use super::output::Bars;
use super::{CommandResult, Exit, Failure, GlobalArgs, Ui};
use promote_lib::pipeline::rendered::{self, Failed, Out};
use promote_lib::pipeline::Project;
use promote_lib::source::RepoFiles;

/// Render an environment's tenants to JSON trees (or YAML directories)
#[derive(Debug, clap::Args)]
pub struct RenderArgs {
    /// Environment to render (environments/<ENV>.yaml)
    #[arg(long)]
    pub env: String,
    /// Only this tenant (key or ID, or key:KEY, id:ID); repeatable
    #[arg(long = "tenant", value_name = "TENANT")]
    pub tenants: Vec<String>,
    /// Write one file per tenant here (DIR/<key>.json, or DIR/<key>/ with --format yaml)
    /// instead of printing one JSON object keyed by tenant
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Form of the files written with --out
    #[arg(long, value_enum, default_value_t = RenderFormat::Json)]
    pub format: RenderFormat,
}

/// File form of rendered tenants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RenderFormat {
    /// DIR/<key>.json, one tree per tenant
    Json,
    /// DIR/<key>/ in the repository layout
    Yaml,
}

pub fn run(ui: &Ui, global: &GlobalArgs, args: &RenderArgs) -> CommandResult {
    if let Some(out) = &args.out {
        rendered::refuse_source_dirs(&global.repo, out)?;
    }
    let files = RepoFiles::from_work_tree(&global.repo)?;
    let project = Project::open(&files, &args.env)?;
    let tenants = project.select(&args.tenants)?;
    let out = args.out.as_ref().map(|dir| Out {
        dir: dir.clone(),
        format: match args.format {
            RenderFormat::Json => rendered::Format::Json,
            RenderFormat::Yaml => rendered::Format::Yaml,
        },
    });
    let results = rendered::render(&project, &tenants, out.as_ref(), &Bars::new(ui.quiet));
    let mut printed = Map::new();
    let mut failed = false;
    for r in results {
        match r.result {
            Ok(Some(tree)) => {
                printed.insert(r.key, tree);
            }
            Ok(None) => {}
            Err(failure) => {
                failed = true;
                ui.failure(&match failure {
                    Failed::Invalid(ds) => Failure::Input(ds),
                    Failed::Write(e) => Failure::from(e),
                });
            }
        }
    }
    if args.out.is_none() {
        ui.json(&Value::Object(printed));
    }
    Ok(if failed { Exit::Error } else { Exit::Ok })
}

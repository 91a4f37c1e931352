//! `promote render`: the trees an environment's tenants render to.

use std::path::PathBuf;

use rayon::prelude::*;
use serde_json::{Map, Value};

use super::{CommandResult, Exit, Failure, GlobalArgs, Ui};
use promote_lib::files;
use promote_lib::keys;
use promote_lib::layout;
use promote_lib::pipeline::Project;
use promote_lib::progress;
use promote_lib::source::RepoFiles;

/// Render an environment's tenants to JSON trees (or YAML directories)
#[derive(Debug, clap::Args)]
pub struct RenderArgs {
    /// Environment to render (environments/<ENV>.yaml)
    #[arg(long)]
    pub env: String,
    /// Only this tenant (key or ID); repeatable
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
        refuse_source_dirs(&global.repo, out)?;
    }
    let files = RepoFiles::from_work_tree(&global.repo)?;
    let templates = std::sync::Arc::new(promote_lib::render::Templates::compile(&files)?);
    let project = Project::load(&templates, &args.env)?;
    let tenants = project.select(&args.tenants)?;
    let bar = progress::bar(tenants.len(), "render", ui.quiet);
    let results: Vec<_> = tenants
        .par_iter()
        .map(|tenant| {
            let result =
                project
                    .desired(tenant)
                    .map_err(Failure::Input)
                    .and_then(|tree| match &args.out {
                        Some(dir) => write(dir, &tenant.key, &tree, args.format)
                            .map(|()| None)
                            .map_err(Failure::Other),
                        None => Ok(Some(tree)),
                    });
            bar.inc(1);
            (tenant.key.clone(), result)
        })
        .collect();
    bar.finish_and_clear();
    let mut printed = Map::new();
    let mut failed = false;
    for (key, result) in results {
        match result {
            Ok(Some(tree)) => {
                printed.insert(key, tree);
            }
            Ok(None) => {}
            Err(failure) => {
                failed = true;
                ui.failure(&failure);
            }
        }
    }
    if args.out.is_none() {
        ui.json(&Value::Object(printed));
    }
    Ok(if failed { Exit::Error } else { Exit::Ok })
}

/// Refuses an output directory inside `templates/` or `environments/`: rendering there would
/// replace templates with their output.
fn refuse_source_dirs(repo: &std::path::Path, out: &std::path::Path) -> Result<(), Failure> {
    let absolute = |p: &std::path::Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    let out = absolute(out);
    for source in ["templates", "environments"] {
        let dir = absolute(&repo.join(source));
        if out.starts_with(&dir) {
            return Err(Failure::Input(vec![
                promote_lib::diagnostic::Diagnostic::new(format!(
                    "refusing to render into {}: it is inside the repository's {source}/",
                    out.display()
                ))
                .hint("render somewhere else, e.g. --out .promote/rendered (git-ignored)"),
            ]));
        }
    }
    Ok(())
}

fn write(
    dir: &std::path::Path,
    key: &str,
    tree: &Value,
    format: RenderFormat,
) -> anyhow::Result<()> {
    let name = keys::encode(key).map_err(|e| anyhow::anyhow!("tenant key {key:?}: {e}"))?;
    match format {
        RenderFormat::Json => {
            let mut text = serde_json::to_string_pretty(tree)?;
            text.push('\n');
            files::write_atomic(
                &files::inside(dir, &format!("{name}.json"))?,
                text.as_bytes(),
            )?;
            Ok(())
        }
        RenderFormat::Yaml => {
            let laid_out =
                layout::write(&layout::TENANT, tree).map_err(|d| anyhow::anyhow!("{d}"))?;
            files::write_layout(&files::inside(dir, &name)?, &laid_out)?;
            Ok(())
        }
    }
}

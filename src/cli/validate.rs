//! `promote validate`: every error of every tenant of every environment, then the exit code.

use std::sync::Arc;

use rayon::prelude::*;
use serde_json::json;

use super::{CommandResult, Exit, GlobalArgs, OutputFormat, Ui};
use promote_lib::diagnostic::Diagnostic;
use promote_lib::pipeline::Project;
use promote_lib::progress;
use promote_lib::render::Templates;
use promote_lib::source::RepoFiles;

/// Check that every tenant renders, is well-formed, references what exists, and holds no
/// plain-text credential
#[derive(Debug, clap::Args)]
pub struct ValidateArgs {
    /// Environment to check (repeatable); default: all of environments/
    #[arg(long = "env", value_name = "ENV")]
    pub envs: Vec<String>,
}

pub fn run(ui: &Ui, global: &GlobalArgs, args: &ValidateArgs) -> CommandResult {
    let files = RepoFiles::from_work_tree(&global.repo)?;
    let envs: Vec<String> = if args.envs.is_empty() {
        files.environments.keys().cloned().collect()
    } else {
        args.envs.clone()
    };
    let mut errors: Vec<Diagnostic> = Vec::new();
    let mut checked = 0usize;
    // Compiled once for every environment; their errors are the snapshot's, reported once.
    let templates = match Templates::compile(&files) {
        Ok(t) => Some(Arc::new(t)),
        Err(ds) => {
            errors.extend(ds);
            None
        }
    };
    for env in &envs {
        let Some(templates) = &templates else { break };
        let project = match Project::load(templates, env) {
            Ok(p) => p,
            Err(ds) => {
                errors.extend(ds);
                continue;
            }
        };
        let bar = progress::bar(project.tenants.len(), &format!("validate {env}"), ui.quiet);
        let found: Vec<Diagnostic> = project
            .tenants
            .par_iter()
            .flat_map_iter(|t| {
                let r = project.desired(t).err().unwrap_or_default();
                bar.inc(1);
                r
            })
            .collect();
        bar.finish_and_clear();
        checked += project.tenants.len();
        errors.extend(found);
    }
    if envs.is_empty() {
        errors.push(
            Diagnostic::new("there are no environments to validate")
                .hint("create environments/<name>.yaml"),
        );
    }
    match ui.format {
        OutputFormat::Json => ui.json(&json!({
            "valid": errors.is_empty(),
            "environments": envs,
            "tenants_checked": checked,
            "errors": errors,
        })),
        OutputFormat::Text | OutputFormat::Markdown | OutputFormat::Html => {
            for d in &errors {
                ui.diagnostic(d);
            }
            let summary = format!(
                "{} tenant(s) in {} environment(s): {}",
                checked,
                envs.len(),
                if errors.is_empty() {
                    "valid".to_owned()
                } else {
                    format!("{} error(s)", errors.len())
                }
            );
            if errors.is_empty() {
                ui.note(&summary);
            } else {
                eprintln!("{summary}");
            }
        }
    }
    Ok(if errors.is_empty() {
        Exit::Ok
    } else {
        Exit::Error
    })
}

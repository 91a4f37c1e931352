//! `promote validate` over a repository: every error of every tenant of the environments.

use std::sync::Arc;

use rayon::prelude::*;
use serde::Serialize;

use crate::diagnostic::Diagnostic;
use crate::pipeline::Project;
use crate::progress;
use crate::render::Templates;
use crate::source::RepoFiles;

/// What validating a repository found.
#[derive(Debug, Serialize)]
pub struct Checked {
    /// No error anywhere.
    pub valid: bool,
    /// The environments checked.
    pub environments: Vec<String>,
    pub tenants_checked: usize,
    /// Every error, the templates' first, then each environment's.
    pub errors: Vec<Diagnostic>,
}

/// Renders and validates every tenant of `envs` (every environment of `files` when empty),
/// reporting each environment's tenants to `progress` as they are checked.
pub fn repository(
    files: &RepoFiles,
    envs: &[String],
    progress: &dyn progress::Observer,
) -> Checked {
    let envs: Vec<String> = if envs.is_empty() {
        files.environments.keys().cloned().collect()
    } else {
        envs.to_vec()
    };
    let mut errors: Vec<Diagnostic> = Vec::new();
    let mut checked = 0usize;
    // Compiled once for every environment; their errors are the snapshot's, reported once.
    let templates = match Templates::compile(files) {
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
        progress.begin(&format!("validate {env}"), project.tenants.len());
        let found: Vec<Diagnostic> = project
            .tenants
            .par_iter()
            .flat_map_iter(|t| {
                let r = project.desired(t).err().unwrap_or_default();
                progress.advance();
                r
            })
            .collect();
        progress.finish();
        checked += project.tenants.len();
        errors.extend(found);
    }
    if envs.is_empty() {
        errors.push(
            Diagnostic::new("there are no environments to validate")
                .hint("create environments/<name>.yaml"),
        );
    }
    Checked {
        valid: errors.is_empty(),
        environments: envs,
        tenants_checked: checked,
        errors,
    }
}

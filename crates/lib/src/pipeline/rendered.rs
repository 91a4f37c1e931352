//! `promote render`: an environment's tenants rendered, printed or written one file (or
//! directory) per tenant.

use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde_json::Value;

use super::Project;
use crate::diagnostic::{Diagnostic, Doing, Result};
use crate::environment::Tenant;
use crate::files;
use crate::keys;
use crate::layout;
use crate::progress;

/// File form of rendered tenants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `DIR/<key>.json`, one tree per tenant.
    Json,
    /// `DIR/<key>/` in the repository layout.
    Yaml,
}

/// Where rendered tenants are written.
#[derive(Debug, Clone)]
pub struct Out {
    pub dir: PathBuf,
    pub format: Format,
}

/// Why a tenant was not rendered.
#[derive(Debug)]
pub enum Failed {
    /// Its templates do not render, or the tree is not valid.
    Invalid(Vec<Diagnostic>),
    /// Its file could not be written.
    Write(Diagnostic),
}

/// One tenant rendered: its tree when not written to a file, or why it failed.
#[derive(Debug)]
pub struct Rendered {
    pub key: String,
    pub result: Result<Option<Value>, Failed>,
}

/// Refuses an output directory inside `templates/` or `environments/` of `repo`: rendering
/// there would replace templates with their output.
pub fn refuse_source_dirs(repo: &Path, out: &Path) -> Result<(), Diagnostic> {
    let absolute = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    let out = absolute(out);
    for source in ["templates", "environments"] {
        let dir = absolute(&repo.join(source));
        if out.starts_with(&dir) {
            return Err(Diagnostic::new(format!(
                "refusing to render into {}: it is inside the repository's {source}/",
                out.display()
            ))
            .hint("render somewhere else, e.g. --out .promote/rendered (git-ignored)"));
        }
    }
    Ok(())
}

/// Renders `tenants` of `project`, writing each to `out` when given, in tenant order.
pub fn render(
    project: &Project,
    tenants: &[&Tenant],
    out: Option<&Out>,
    progress: &dyn progress::Observer,
) -> Vec<Rendered> {
    progress.begin("render", tenants.len());
    let rendered = tenants
        .par_iter()
        .map(|tenant| {
            let result =
                project
                    .desired(tenant)
                    .map_err(Failed::Invalid)
                    .and_then(|tree| match out {
                        Some(out) => write(&out.dir, &tenant.key, &tree, out.format)
                            .map(|()| None)
                            .map_err(Failed::Write),
                        None => Ok(Some(tree)),
                    });
            progress.advance();
            Rendered {
                key: tenant.key.clone(),
                result,
            }
        })
        .collect();
    progress.finish();
    rendered
}

fn write(dir: &Path, key: &str, tree: &Value, format: Format) -> Result<()> {
    let name =
        keys::encode(key).map_err(|e| Diagnostic::new(format!("tenant key {key:?}: {e}")))?;
    match format {
        Format::Json => {
            let mut text = serde_json::to_string_pretty(tree)
                .doing(|| format!("cannot write tenant {key:?} as JSON"))?;
            text.push('\n');
            files::write_atomic(
                &files::inside(dir, &format!("{name}.json"))?,
                text.as_bytes(),
            )?;
            Ok(())
        }
        Format::Yaml => {
            let laid_out = layout::write(&layout::TENANT, tree)
                .map_err(|d| Diagnostic::new(format!("{d}")))?;
            crate::export::write_dir(
                &files::inside(dir, &name)?,
                &laid_out,
                crate::export::Writing::default(),
            )
            .map(|_| ())
        }
    }
}

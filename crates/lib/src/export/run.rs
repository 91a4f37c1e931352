//! `promote export` over an environment: where the files may go, exporting the tenants in
//! parallel into their directories, and the JSON Schema documents their `$schema` lines name.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::{Changes, Options};
use crate::baseline::Live;
use crate::diagnostic::{Diagnostic, Result};
use crate::environment::{Environment, Tenant};
use crate::files;
use crate::keys;
use crate::parallel;
use crate::progress;
use crate::schema;

/// One tenant's export.
#[derive(Debug, Serialize)]
pub struct Exported {
    pub key: String,
    pub id: String,
    #[serde(flatten)]
    pub outcome: Outcome,
}

/// What exporting one tenant did.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum Outcome {
    /// Its files were written into `dir`.
    Written {
        dir: PathBuf,
        files: usize,
        changes: Changes,
    },
    /// It could not be exported or written.
    Failed {
        /// The problems, as the report lists them.
        errors: Vec<String>,
        #[serde(skip)]
        problems: Vec<Diagnostic>,
    },
}

/// What exporting an environment's tenants did.
#[derive(Debug)]
pub struct Exports {
    /// Every tenant, in the order given.
    pub tenants: Vec<Exported>,
    /// The repository's schema/ directory, when the files name their schema.
    pub schema_dir: PathBuf,
    /// What bringing schema/ up to date wrote, when the files name their schema and some
    /// tenant was exported.
    pub schemas: Option<Result<schema::Written>>,
}

impl Exports {
    /// The tenants that failed.
    pub fn failed(&self) -> usize {
        self.tenants
            .iter()
            .filter(|t| matches!(t.outcome, Outcome::Failed { .. }))
            .count()
    }
}

/// The JSON report of an export.
#[derive(Debug, Serialize)]
pub struct Report<'a> {
    pub version: u32,
    pub env: &'a str,
    pub tenants: &'a [Exported],
    pub schemas: Option<&'a schema::Written>,
}

/// Refuses to export into `out` what the repository at `repo` must not hold there: credentials
/// (`with_credentials`) inside a git work tree unless `allow_secrets_in_repo`, or anything
/// inside promote's own directory unless it is what promote keeps it.
pub fn check_out(
    repo: &Path,
    out: &Path,
    with_credentials: bool,
    allow_secrets_in_repo: bool,
) -> Result<(), Diagnostic> {
    if with_credentials && !allow_secrets_in_repo {
        refuse_work_tree(out)?;
    }
    // Into promote's own directory: only when it is what promote keeps it (a plain directory
    // that git ignores and tracks nothing in).
    let absolute = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    if absolute(out).starts_with(absolute(repo).join(files::WORK_DIR)) {
        files::work_dir(repo)?;
    }
    Ok(())
}

/// Refuses writing credentials inside a git work tree, unless the place is git-ignored and
/// git tracks nothing there (a tracked file would be overwritten with credentials, and its
/// next commit would take them).
fn refuse_work_tree(out: &Path) -> Result<(), Diagnostic> {
    let Some(workdir) = files::tracked_work_tree(out) else {
        return Ok(());
    };
    let why = match files::tracked_at(out) {
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

/// Exports `tenants` of `env` from `live` into `out/<tenant key>/`, as many at a time as the
/// environment allows. Inside the repository at `repo`, where git keeps them, files name their
/// JSON Schema for editors and schema/ is brought up to date; a throwaway export into an
/// ignored place such as .promote/ does not.
pub fn run(
    repo: &Path,
    live: &Live,
    env: &Environment,
    tenants: &[&Tenant],
    out: &Path,
    options: Options,
    progress: &dyn progress::Observer,
) -> Result<Exports> {
    std::fs::create_dir_all(out)
        .map_err(|e| Diagnostic::new(format!("cannot create {}: {e}", out.display())))?;
    let depth = schema::depth_in(repo, out)
        .filter(|_| files::tracked_work_tree(out).is_some())
        .map(|d| d + 1);
    progress.begin(&format!("export {}", env.name), tenants.len());
    let mut results = Vec::with_capacity(tenants.len());
    parallel::ordered(
        tenants,
        live.concurrency,
        |t| {
            crate::activity::tenant("export", &env.name, t, || {
                let mut files = super::tenant(live, env, t, options)?;
                if let Some(depth) = depth {
                    schema::add_modelines(&mut files, depth);
                }
                let dir = keys::dir_name(&t.key)
                    .map_err(|e| e.to_string())
                    .and_then(|name| crate::files::inside(out, &name).map_err(|e| e.to_string()))
                    .map_err(|e| vec![Diagnostic::new(e).context(&env.name, Some(&t.key))])?;
                let context = crate::render::context(env, t);
                let writing = super::Writing {
                    private: options.with_credentials,
                    force: options.force,
                    form: super::Form::Templates {
                        context: &context,
                        modelines: depth,
                    },
                };
                super::write_dir(&dir, &files, writing)
                    .map(|changes| Outcome::Written {
                        dir,
                        files: files.len(),
                        changes,
                    })
                    .map_err(|e| {
                        vec![Diagnostic::new(format!("{e:#}")).context(&env.name, Some(&t.key))]
                    })
            })
        },
        |result| {
            progress.advance();
            results.push(result);
        },
    );
    progress.finish();
    let tenants: Vec<Exported> = tenants
        .iter()
        .zip(results)
        .map(|(t, result)| Exported {
            key: t.key.clone(),
            id: t.id.clone(),
            outcome: result.unwrap_or_else(|problems| Outcome::Failed {
                errors: problems.iter().map(|d| d.to_string()).collect(),
                problems,
            }),
        })
        .collect();
    let mut exports = Exports {
        tenants,
        schema_dir: schema::dir_of(repo),
        schemas: None,
    };
    if depth.is_some() && exports.failed() < exports.tenants.len() {
        exports.schemas = Some(schema::write(&exports.schema_dir));
    }
    Ok(exports)
}

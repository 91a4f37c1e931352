//! Promotion gates, tenant by tenant: `requires: staging` in `environments/prod.yaml` means
//! that a tenant of prod takes a commit only once its twin in staging (the tenant with the same
//! key) has applied what that commit renders for it. What was applied is read from the
//! last-applied records of `refs/promote/state` ([`state`]), every record the twin ever had:
//! the twin passes when one of them is the tree the commit renders for it in staging (the same
//! rendering, whichever commit it came from). A tenant of prod with no twin in staging takes
//! the commit only once every tenant of staging has applied what it renders: staging as a
//! whole runs it.
//!
//! So `apply --env staging --tenant globex` of a change to a template opens prod's gate for
//! globex alone. Applying from a work tree with uncommitted changes to the configuration is
//! refused for a gated environment: those changes were applied nowhere.

use std::collections::BTreeSet;
use std::path::Path;

use git2::Repository;
use rayon::prelude::*;

use crate::diagnostic::Diagnostic;
use crate::environment::Tenant;
use crate::pipeline::Project;
use crate::prepare::Desired;
use crate::state;

/// What is about to be applied.
#[derive(Debug, Clone, Copy)]
pub enum Head {
    /// The work tree of the repository (`promote apply`): its HEAD commit, and no uncommitted
    /// change to the configuration.
    WorkTree,
    /// A commit, rendered from the object database (`promote ci --head REV`): `project` was
    /// loaded from it.
    Commit(git2::Oid),
}

/// Most tenants a refusal names.
const NAMED: usize = 10;

/// Checks the gate of `project`'s environment for applying `tenants` of it, rendered from
/// `head`, in the repository at `repo`. Refuses the whole apply when one tenant may not take
/// it, naming the tenants and what to apply first.
pub fn check(
    repo: &Path,
    project: &Project,
    tenants: &[&Tenant],
    head: Head,
) -> Result<(), Diagnostic> {
    let env = &project.env;
    let Some(required) = env.file.requires.as_deref() else {
        tracing::debug!("gate: `{}` requires no other environment", env.name);
        return Ok(());
    };
    let at = || env.locate(&["requires"]);
    if let Head::WorkTree = head {
        let git = Repository::discover(repo).map_err(|e| {
            Diagnostic::new(format!(
                "environment `{}` requires `{required}`, which is checked through git, but {} is not in a git repository ({})",
                env.name,
                repo.display(),
                e.message()
            ))
            .at(at())
        })?;
        if git.head().ok().and_then(|h| h.target()).is_none() {
            return Err(Diagnostic::new(format!(
                "environment `{}` requires `{required}`: there is no commit to check",
                env.name
            ))
            .at(at())
            .hint("commit the configuration, apply it to the required environment, then here"));
        }
        if let Some(path) = uncommitted(&git, repo)? {
            return Err(Diagnostic::new(format!(
                "environment `{}` requires `{required}`, but {path} has uncommitted changes: they were applied nowhere",
                env.name
            ))
            .at(at())
            .hint(format!(
                "commit them, apply the commit to `{required}`, then to `{}`",
                env.name
            )));
        }
    }
    let before = Project::load(&project.templates, required)
        .map_err(|ds| first(ds).context(required, None))?;
    let applied = state::Snapshot::open(repo, required)?;
    let twin = |t: &Tenant| before.tenants.iter().find(|b| b.key == t.key);
    let (twinned, twinless): (Vec<&Tenant>, Vec<&Tenant>) =
        tenants.iter().copied().partition(|t| twin(t).is_some());
    let twins: Vec<&Tenant> = twinned.iter().filter_map(|t| twin(t)).collect();
    // A tenant with no twin waits for the whole of the required environment.
    let checked: Vec<&Tenant> = if twinless.is_empty() {
        twins
    } else {
        before.tenants.iter().collect()
    };
    let behind = behind(&before, &applied, &checked)?;
    if behind.is_empty() {
        tracing::info!(
            "gate: `{}` requires `{required}`: the twins of {} tenant(s) there ({} checked) have applied what this commit renders for them",
            env.name,
            tenants.len(),
            checked.len()
        );
        return Ok(());
    }
    let refused: Vec<String> = if twinless.is_empty() {
        behind
            .iter()
            .map(|(key, why)| format!("{key} ({why})"))
            .collect()
    } else {
        twinless
            .iter()
            .map(|t| format!("{} (no twin in `{required}`)", t.key))
            .chain(
                twinned
                    .iter()
                    .filter(|t| behind.iter().any(|(k, _)| *k == t.key))
                    .map(|t| t.key.clone()),
            )
            .collect()
    };
    let named: Vec<&str> = refused.iter().take(NAMED).map(String::as_str).collect();
    let more = refused.len().saturating_sub(NAMED);
    let mut message =
        format!(
        "environment `{}` requires `{required}`: {} tenant(s) may not take this commit yet: {}{}",
        env.name,
        refused.len(),
        named.join(", "),
        if more > 0 { format!(" and {more} more") } else { String::new() }
    );
    if !twinless.is_empty() {
        let pending: Vec<&str> = behind.iter().take(NAMED).map(|(k, _)| k.as_str()).collect();
        message.push_str(&format!(
            ". A tenant with no twin in `{required}` waits until every tenant there has applied what this commit renders for it; {} there have not: {}",
            behind.len(),
            pending.join(", ")
        ));
    }
    let only: Vec<String> = behind
        .iter()
        .take(NAMED)
        .map(|(k, _)| format!("--tenant {k}"))
        .collect();
    Err(Diagnostic::new(message).at(at()).hint(format!(
        "apply the commit to `{required}` first (promote apply --env {required} {}), then to `{}`; or apply to `{}` only the tenants `{required}` already runs, with --tenant",
        only.join(" "),
        env.name,
        env.name
    )))
}

/// The tenants of `before` among `tenants` whose applied records never held what `before`
/// renders for them, with why (what the last record says), in tenant order.
fn behind(
    before: &Project,
    applied: &state::Snapshot,
    tenants: &[&Tenant],
) -> Result<Vec<(String, String)>, Diagnostic> {
    let env = &before.env.name;
    // What each tenant renders, against its last record first.
    let rendered: Vec<(&Tenant, Result<Option<serde_json::Value>, Diagnostic>)> = tenants
        .par_iter()
        .map(|t| {
            let desired =
                Desired::render(before, t, true).map_err(|ds| first(ds).context(env, Some(&t.key)));
            let matches = desired.and_then(|d| {
                let last = applied.get(&t.key)?;
                Ok(match last {
                    Some(record) if record.tree == d.tree => None,
                    _ => Some(d.tree),
                })
            });
            (*t, matches)
        })
        .collect();
    let mut waiting = Vec::new();
    for (t, result) in rendered {
        if let Some(tree) = result? {
            waiting.push((t, tree));
        }
    }
    if waiting.is_empty() {
        return Ok(Vec::new());
    }
    // Older records, for the tenants whose last one is not it.
    let keys: BTreeSet<&str> = waiting.iter().map(|(t, _)| t.key.as_str()).collect();
    let history = applied.history(env, &keys)?;
    let mut out = Vec::new();
    for (t, tree) in waiting {
        let versions = history.get(&t.key).map(Vec::as_slice).unwrap_or_default();
        let mut last_source = None;
        let mut found = false;
        for (i, id) in versions.iter().enumerate() {
            let record = applied.read(*id, &t.key)?;
            if i == 0 {
                last_source = Some(record.source.clone());
            }
            if record.tree == tree {
                found = true;
                break;
            }
        }
        if found {
            continue;
        }
        let why = match last_source {
            None => format!("never applied to `{env}`"),
            Some(Some(source)) => format!(
                "`{env}` last applied it from {}",
                state::short_source(&source)
            ),
            Some(None) => format!("`{env}` holds another rendering"),
        };
        out.push((t.key.clone(), why));
    }
    Ok(out)
}

/// The first of `diagnostics` (a tenant's errors: the first says enough to refuse a gate).
fn first(diagnostics: Vec<Diagnostic>) -> Diagnostic {
    diagnostics
        .into_iter()
        .next()
        .unwrap_or_else(|| Diagnostic::new("the environment could not be loaded"))
}

/// The first configuration file (under `templates/` or `environments/`) with uncommitted
/// changes, if any.
fn uncommitted(git: &Repository, repo: &Path) -> Result<Option<String>, Diagnostic> {
    let prefix = crate::source::repo_prefix(git, repo);
    let mut options = git2::StatusOptions::new();
    options
        .include_untracked(true)
        .recurse_untracked_dirs(true)
        // promote reads an ignored file under templates/ as it reads any other: it is no
        // more committed than an untracked one.
        .include_ignored(true)
        .recurse_ignored_dirs(true)
        .pathspec(prefix.join("templates"))
        .pathspec(prefix.join("environments"));
    let statuses = git
        .statuses(Some(&mut options))
        .map_err(|e| Diagnostic::new(format!("cannot read git status: {}", e.message())))?;
    Ok(statuses
        .iter()
        .find(|s| s.status() != git2::Status::CURRENT)
        .map(|s| s.path().unwrap_or("a file").to_owned()))
}

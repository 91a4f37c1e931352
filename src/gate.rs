//! Promotion gates: `requires: staging` in `environments/prod.yaml` means prod only accepts a
//! commit already applied to staging, or one that descends from such a commit without any change
//! that staging would see (its environment file and the templates).
//!
//! What was applied where is read from `refs/promote/state`: each apply's commit message names
//! its environment and the source commit. Applying from a work tree with uncommitted changes to
//! the configuration is refused for a gated environment: those changes were applied nowhere.

use std::path::Path;

use git2::{Oid, Repository};

use crate::diagnostic::Diagnostic;
use crate::environment::Environment;
use crate::state;

/// Checks the gate of `env` for the work tree of `repo`, whose HEAD is `head`.
pub fn check(repo: &Path, env: &Environment) -> Result<(), Diagnostic> {
    let Some(required) = env.file.requires.as_deref() else {
        return Ok(());
    };
    let at = || env.locate(&["requires"]);
    let git = Repository::discover(repo).map_err(|e| {
        Diagnostic::new(format!(
            "environment `{}` requires `{required}`, which is checked through git, but {} is not in a git repository ({})",
            env.name,
            repo.display(),
            e.message()
        ))
        .at(at())
    })?;
    let head = git.head().ok().and_then(|h| h.target()).ok_or_else(|| {
        Diagnostic::new(format!(
            "environment `{}` requires `{required}`: there is no commit to check",
            env.name
        ))
        .at(at())
        .hint("commit the configuration, apply it to the required environment, then here")
    })?;
    if let Some(path) = uncommitted(&git)? {
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
    let applied = applied_sources(&git, required)?;
    for source in &applied {
        if *source == head || unchanged_for(&git, required, *source, head)? {
            return Ok(());
        }
    }
    let short = |id: Oid| id.to_string()[..12].to_owned();
    let last = applied
        .first()
        .map(|s| format!(" (the last one applied there is {})", short(*s)))
        .unwrap_or_else(|| {
            format!(" (nothing was ever applied to `{required}` from this repository)")
        });
    Err(Diagnostic::new(format!(
        "environment `{}` requires `{required}`: commit {} has not been applied to `{required}`{last}",
        env.name,
        short(head)
    ))
    .at(at())
    .hint(format!(
        "apply it to `{required}` first (promote apply --env {required}), then to `{}`",
        env.name
    )))
}

/// The first configuration file (under `templates/` or `environments/`) with uncommitted
/// changes, if any.
fn uncommitted(git: &Repository) -> Result<Option<String>, Diagnostic> {
    let mut options = git2::StatusOptions::new();
    options
        .include_untracked(true)
        .recurse_untracked_dirs(true)
        .include_ignored(false)
        .pathspec("templates")
        .pathspec("environments");
    let statuses = git
        .statuses(Some(&mut options))
        .map_err(|e| Diagnostic::new(format!("cannot read git status: {}", e.message())))?;
    Ok(statuses
        .iter()
        .find(|s| s.status() != git2::Status::CURRENT)
        .map(|s| s.path().unwrap_or("a file").to_owned()))
}

/// The source commits of the applies recorded for `env`, newest first.
fn applied_sources(git: &Repository, env: &str) -> Result<Vec<Oid>, Diagnostic> {
    let fail =
        |e: git2::Error| Diagnostic::new(format!("cannot read {}: {}", state::REF, e.message()));
    let Ok(start) = git.refname_to_id(state::REF) else {
        return Ok(Vec::new());
    };
    let mut walk = git.revwalk().map_err(fail)?;
    walk.push(start).map_err(fail)?;
    let mut out = Vec::new();
    for id in walk {
        let commit = git.find_commit(id.map_err(fail)?).map_err(fail)?;
        let Ok(summary) = commit.summary() else {
            continue;
        };
        let Some(source) = summary.and_then(|s| state::applied_from(s, env)) else {
            continue;
        };
        if let Ok(object) = git.revparse_single(source) {
            if let Ok(c) = object.peel_to_commit() {
                if !out.contains(&c.id()) {
                    out.push(c.id());
                }
            }
        }
    }
    Ok(out)
}

/// Whether `head` descends from `source` and nothing `env` renders from changed between them:
/// its environment file and the templates.
fn unchanged_for(git: &Repository, env: &str, source: Oid, head: Oid) -> Result<bool, Diagnostic> {
    let fail = |e: git2::Error| Diagnostic::new(format!("cannot compare commits: {}", e.message()));
    if !git.graph_descendant_of(head, source).map_err(fail)? {
        return Ok(false);
    }
    let entry = |commit: Oid, path: &str| -> Result<Option<Oid>, Diagnostic> {
        let tree = git
            .find_commit(commit)
            .and_then(|c| c.tree())
            .map_err(fail)?;
        Ok(tree.get_path(Path::new(path)).ok().map(|e| e.id()))
    };
    for path in ["templates".to_owned(), format!("environments/{env}.yaml")] {
        if entry(source, &path)? != entry(head, &path)? {
            return Ok(false);
        }
    }
    Ok(true)
}

//! Promotion gates: `requires: staging` in `environments/prod.yaml` means prod only accepts a
//! commit already applied to staging, or one that descends from such a commit with no change
//! for staging: no tenant of staging renders differently (see [`crate::affected`]).
//!
//! What was applied where is read from `refs/promote/state`: each apply's commit names its
//! environment and the full source commit in trailers ([`state::history`]); commits are
//! compared by object ID. Applying from a work tree with uncommitted changes to
//! the configuration is refused for a gated environment: those changes were applied nowhere.

use std::path::Path;

use git2::{Oid, Repository};

use crate::diagnostic::Diagnostic;
use crate::environment::Environment;
use crate::source::RepoFiles;
use crate::state;

/// What is about to be applied.
#[derive(Debug, Clone, Copy)]
pub enum Head {
    /// The work tree of the repository (`promote apply`): its HEAD commit, and no uncommitted
    /// change to the configuration.
    WorkTree,
    /// A commit, rendered from the object database (`promote ci --head REV`).
    Commit(Oid),
}

/// Checks the gate of `env` for `head` in the repository at `repo`.
pub fn check(repo: &Path, env: &Environment, head: Head) -> Result<(), Diagnostic> {
    let Some(required) = env.file.requires.as_deref() else {
        tracing::debug!("gate: `{}` requires no other environment", env.name);
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
    let head = match head {
        Head::Commit(id) => id,
        Head::WorkTree => {
            let head = git.head().ok().and_then(|h| h.target()).ok_or_else(|| {
                Diagnostic::new(format!(
                    "environment `{}` requires `{required}`: there is no commit to check",
                    env.name
                ))
                .at(at())
                .hint("commit the configuration, apply it to the required environment, then here")
            })?;
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
            head
        }
    };
    let applied = applied_sources(&git, required)?;
    // The newest applied commit that `head` descends from decides: older ones are further away.
    if applied.contains(&head) {
        tracing::info!(
            "gate: `{}` requires `{required}`: commit {head} was applied there",
            env.name
        );
        return Ok(());
    }
    let descends = |source: &Oid| git.graph_descendant_of(head, *source).unwrap_or(false);
    if let Some(source) = applied.iter().find(|s| descends(s)) {
        if unchanged_for(repo, required, *source, head)? {
            tracing::info!(
                "gate: `{}` requires `{required}`: commit {head} descends from {source}, applied there, and changes nothing for it",
                env.name
            );
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

/// The source commits of the applies recorded for `env` that this repository has, newest
/// first, each once.
fn applied_sources(git: &Repository, env: &str) -> Result<Vec<Oid>, Diagnostic> {
    let sources = state::sources(git, env)
        .map_err(|e| Diagnostic::new(format!("cannot read {}: {e:#}", state::REF)))?;
    let mut out = Vec::new();
    for source in sources {
        if !out.contains(&source) && git.find_commit(source).is_ok() {
            out.push(source);
        }
    }
    Ok(out)
}

/// Whether nothing `env` renders changed from `source` to `head`: no tenant of `env` is
/// affected, none was added or removed.
fn unchanged_for(repo: &Path, env: &str, source: Oid, head: Oid) -> Result<bool, Diagnostic> {
    let read = |id: Oid| {
        RepoFiles::from_revision(repo, &id.to_string()).map_err(|ds| {
            ds.into_iter()
                .next()
                .unwrap_or_else(|| Diagnostic::new(format!("cannot read commit {id}")))
        })
    };
    let (before, after) = (read(source)?, read(head)?);
    let change = crate::affected::affected(&before, &after, &[env.to_owned()]);
    Ok(change.tenants.is_empty() && change.removed.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::Origin;

    fn prod_requires_staging() -> Environment {
        let files = RepoFiles {
            templates: Default::default(),
            environments: [(
                "prod".to_owned(),
                "target:\n  url: https://x.test\nrequires: staging\n".to_owned(),
            )]
            .into(),
            origin: Origin::WorkTree,
        };
        files.environment("prod").unwrap()
    }

    /// Commits an empty tree on `refname` with `message` and returns the commit.
    fn commit(git: &Repository, refname: &str, message: &str) -> Oid {
        let me = git2::Signature::now("t", "t@example.com").unwrap();
        let parent = crate::git::head_of(git, refname).unwrap();
        let tree = git.treebuilder(None).unwrap().write().unwrap();
        let tree = git.find_tree(tree).unwrap();
        let parents: Vec<&git2::Commit> = parent.iter().collect();
        git.commit(Some(refname), &me, &me, message, &tree, &parents)
            .unwrap()
    }

    #[test]
    fn a_state_written_by_an_earlier_version_still_opens_the_gate() {
        let dir = tempfile::tempdir().unwrap();
        let git = Repository::init(dir.path()).unwrap();
        let applied = commit(&git, "refs/heads/main", "applied to staging");
        let other = git.find_commit(applied).unwrap();
        let me = git2::Signature::now("t", "t@example.com").unwrap();
        let tree = other.tree().unwrap();
        // Not a descendant of `applied`: a commit staging never had.
        let unapplied = git.commit(None, &me, &me, "elsewhere", &tree, &[]).unwrap();
        // The message earlier versions wrote: the abbreviation, no trailers.
        let short = &applied.to_string()[..12];
        commit(
            &git,
            state::REF,
            &format!("apply staging: 0 tenant(s) changed from {short}\n\n"),
        );
        let env = prod_requires_staging();
        check(dir.path(), &env, Head::Commit(applied)).unwrap();
        let refused = check(dir.path(), &env, Head::Commit(unapplied)).unwrap_err();
        assert!(
            refused
                .message
                .contains(&format!("the last one applied there is {short}")),
            "{refused}"
        );
    }
}

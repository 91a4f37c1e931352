//! Sharing the state through a git remote. CI jobs start from fresh clones, and several of them
//! (the shards of a fleet, one job per environment) record applies at once: each job pulls the
//! remote's state before it plans, and pushes its own records after it applies.
//!
//! Records are one file per tenant, so two jobs' commits never really conflict: when the remote
//! moved on, the local commits are replayed on top of it (their file changes, with their
//! messages, which the promotion gates read), and the push is tried again.

use std::path::Path;

use git2::{Oid, Repository};

use super::{open, REF};
use crate::diagnostic::{Diagnostic, Doing, Result};
use crate::git::PushError;

/// Where the remote's state is fetched to before it is reconciled with [`REF`].
const FETCHED: &str = "refs/promote/fetched-state";

/// How many times a push is tried when other jobs keep moving the remote's state.
const PUSH_ATTEMPTS: usize = 6;

/// What pulling did to the local state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pulled {
    /// The remote has no state yet.
    NothingThere,
    /// The local state already had everything.
    UpToDate,
    /// The local state now is the remote's.
    FastForward,
    /// Local commits the remote did not have were replayed on top of the remote's (this many).
    Replayed(usize),
}

/// Brings the state of `repo` up to date with `remote`'s (a remote's name or a URL).
pub(crate) fn pull(repo: &Path, remote: &str) -> Result<Pulled> {
    let git = open(repo)?;
    pull_into(&git, remote)
}

fn pull_into(git: &Repository, remote: &str) -> Result<Pulled> {
    // A stale fetched ref must not pass for the remote's state.
    if let Ok(mut r) = git.find_reference(FETCHED) {
        r.delete()?;
    }
    crate::git::fetch(git, remote, &format!("+{REF}:{FETCHED}")).doing(|| {
        format!(
            "cannot fetch the state ({REF}) from `{}`",
            crate::scrub::remote(remote)
        )
    })?;
    let Ok(fetched) = git.refname_to_id(FETCHED) else {
        return Ok(Pulled::NothingThere);
    };
    reconcile(git, fetched)
}

/// Pushes the state of `repo` to `remote`. When other jobs pushed meanwhile, pulls (replaying
/// this job's records on top of theirs) and tries again.
pub(crate) fn push(repo: &Path, remote: &str) -> Result<()> {
    let git = open(repo)?;
    if git.refname_to_id(REF).is_err() {
        return Ok(());
    }
    let refspec = format!("{REF}:{REF}");
    let mut last = None;
    for _ in 0..PUSH_ATTEMPTS {
        match crate::git::push(&git, remote, &refspec) {
            Ok(()) => return Ok(()),
            Err(PushError::Rejected(why)) => {
                last = Some(why);
                pull_into(&git, remote)?;
            }
            Err(PushError::Other(e)) => {
                return Err(Diagnostic::new(format!(
                    "cannot push the state ({REF}) to `{}`: {}",
                    crate::scrub::remote(remote),
                    e.message
                )))
            }
        }
    }
    Err(Diagnostic::new(format!(
        "cannot push the state ({REF}) to `{}`: refused {PUSH_ATTEMPTS} times, other jobs keep moving it ({})",
        crate::scrub::remote(remote),
        last.unwrap_or_default()
    )))
}

/// Makes [`REF`] hold everything of `fetched` and of itself.
fn reconcile(git: &Repository, fetched: Oid) -> Result<Pulled> {
    let Ok(local) = git.refname_to_id(REF) else {
        // Only if still absent (compared under git's lock on the ref).
        git.reference_matching(
            REF,
            fetched,
            true,
            Oid::ZERO_SHA1,
            "promote: state from the remote",
        )
        .doing(|| "the state moved while it was being pulled; run again".to_owned())?;
        return Ok(Pulled::FastForward);
    };
    if local == fetched || git.graph_descendant_of(local, fetched)? {
        return Ok(Pulled::UpToDate);
    }
    if git.graph_descendant_of(fetched, local)? {
        git.reference_matching(REF, fetched, true, local, "promote: state from the remote")
            .doing(|| "the state moved while it was being pulled; run again".to_owned())?;
        return Ok(Pulled::FastForward);
    }
    // Diverged: replay the local commits the remote does not have, oldest first.
    let mut walk = git.revwalk()?;
    walk.push(local)?;
    walk.hide(fetched)?;
    walk.set_sorting(git2::Sort::TOPOLOGICAL | git2::Sort::REVERSE)?;
    let mine: Vec<Oid> = walk.collect::<Result<_, _>>()?;
    let mut tip = git.find_commit(fetched)?;
    for id in &mine {
        let commit = git.find_commit(*id)?;
        let before = match commit.parent(0) {
            Ok(p) => Some(p.tree()?),
            Err(_) => None,
        };
        let after = commit.tree()?;
        let diff = git.diff_tree_to_tree(before.as_ref(), Some(&after), None)?;
        let mut update = git2::build::TreeUpdateBuilder::new();
        for delta in diff.deltas() {
            match delta.status() {
                git2::Delta::Deleted => {
                    if let Some(path) = delta.old_file().path() {
                        update.remove(path);
                    }
                }
                _ => {
                    if let Some(path) = delta.new_file().path() {
                        update.upsert(path, delta.new_file().id(), git2::FileMode::Blob);
                    }
                }
            }
        }
        let tree = update.create_updated(git, &tip.tree()?)?;
        let tree = git.find_tree(tree)?;
        let replayed = git.commit(
            None,
            &commit.author(),
            &commit.committer(),
            commit.message().unwrap_or_default(),
            &tree,
            &[&tip],
        )?;
        tip = git.find_commit(replayed)?;
    }
    git.reference_matching(
        REF,
        tip.id(),
        true,
        local,
        "promote: local state replayed on the remote's",
    )
    .doing(|| "the state moved while it was being pulled; run again".to_owned())?;
    Ok(Pulled::Replayed(mine.len()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{read, record, AppliedRecord};
    use serde_json::json;

    /// Records in the clone `dir` that `name` was applied to tenant `key` of `env`.
    fn record_one(dir: &tempfile::TempDir, env: &str, key: &str, name: &str, message: &str) {
        let applied = AppliedRecord {
            tree: json!({ "name": name }),
            source: Some("abc".into()),
        };
        record(dir.path(), env, &[(key.into(), applied)], message).unwrap();
    }

    /// A bare "remote" and two clones of it.
    fn remote_and_clones() -> (
        tempfile::TempDir,
        String,
        tempfile::TempDir,
        tempfile::TempDir,
    ) {
        let remote = tempfile::tempdir().unwrap();
        Repository::init_bare(remote.path()).unwrap();
        let url = remote.path().to_str().unwrap().to_owned();
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        for dir in [&a, &b] {
            Repository::init(dir.path()).unwrap();
        }
        (remote, url, a, b)
    }

    #[test]
    fn two_jobs_writing_at_once_both_land() {
        let (_remote, url, a, b) = remote_and_clones();
        assert_eq!(pull(a.path(), &url).unwrap(), Pulled::NothingThere);
        record_one(&a, "dev", "t1", "one", "apply dev: 1");
        push(a.path(), &url).unwrap();
        // b starts from the remote, then a and b each record another tenant.
        assert_eq!(pull(b.path(), &url).unwrap(), Pulled::FastForward);
        record_one(&a, "dev", "t2", "two", "apply dev: 2");
        record_one(&b, "prod", "t3", "three", "apply prod: 3");
        push(a.path(), &url).unwrap();
        // b's push is refused, so b replays its commit on a's and pushes again.
        push(b.path(), &url).unwrap();
        assert_eq!(pull(a.path(), &url).unwrap(), Pulled::FastForward);
        assert_eq!(read(a.path(), "dev").unwrap().len(), 2);
        assert_eq!(read(a.path(), "prod").unwrap().len(), 1);
        let git = Repository::open(a.path()).unwrap();
        let tip = git.find_reference(REF).unwrap().peel_to_commit().unwrap();
        assert_eq!(tip.summary().unwrap(), Some("apply prod: 3"));
        assert_eq!(pull(b.path(), &url).unwrap(), Pulled::UpToDate);
    }

    #[test]
    fn local_records_not_pushed_yet_are_kept() {
        let (_remote, url, a, b) = remote_and_clones();
        record_one(&a, "dev", "t1", "one", "apply dev: 1");
        push(a.path(), &url).unwrap();
        record_one(&b, "dev", "t1", "mine", "apply dev: b");
        assert_eq!(pull(b.path(), &url).unwrap(), Pulled::Replayed(1));
        assert_eq!(read(b.path(), "dev").unwrap()["t1"].tree["name"], "mine");
    }

    #[test]
    fn an_unknown_remote_is_named() {
        let dir = tempfile::tempdir().unwrap();
        Repository::init(dir.path()).unwrap();
        let e = pull(dir.path(), "/nonexistent/remote.git").unwrap_err();
        assert!(format!("{e:#}").contains("cannot fetch the state"), "{e:#}");
    }
}

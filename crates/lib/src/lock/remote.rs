//! The remote lock: a ref `refs/promote/locks/<env>` on the state remote, pointing at a commit
//! with no parent whose message holds the [`Holder`].
//!
//! Taking it is a compare-and-swap on the remote: the push is not forced, and a commit with no
//! parent never fast-forwards another, so the push lands only where the remote has no lock
//! (git's receive-pack, and libgit2's local transport, create the ref only if it is still
//! absent). The run then reads the remote's ref back and holds the lock only if it is its own.
//! Releasing deletes the remote ref, only while it is still this run's.

use std::path::{Path, PathBuf};

use git2::{Oid, Repository};

use super::Holder;
use crate::diagnostic::{Diagnostic, Doing, Result};
use crate::git::PushError;

/// Where the locks are, locally and on the remote.
const PREFIX: &str = "refs/promote/locks/";
/// Where a remote's lock is fetched to, to be read.
const FETCHED: &str = "refs/promote/fetched-locks/";

/// A remote lock this run holds.
#[derive(Debug, Clone)]
pub(super) struct Held {
    repo: PathBuf,
    remote: String,
    env: String,
    oid: Oid,
}

impl Held {
    /// Deletes the remote lock if it is still this one, and the local copy of it.
    pub(super) fn release(&self) -> Result<()> {
        let found = read(&self.repo, &self.remote, &self.env)?;
        if found.is_some_and(|(oid, _)| oid == self.oid) {
            remove(&self.repo, &self.remote, &self.env, self.oid)?;
        }
        Ok(())
    }
}

fn refname(env: &str) -> Result<String> {
    Ok(format!("{PREFIX}{}", crate::keys::encode(env)?))
}

fn open(repo: &Path) -> Result<Repository> {
    Repository::discover(repo).doing(|| format!("{} is not in a git repository", repo.display()))
}

/// Takes the lock of `env` on `remote` for `holder`: `Ok(Err(who))` when another run holds it
/// (`who` is `None` when its record cannot be read).
pub(super) fn try_take(
    repo: &Path,
    remote: &str,
    env: &str,
    holder: &Holder,
) -> Result<std::result::Result<Held, Option<Holder>>> {
    let git = open(repo)?;
    let name = refname(env)?;
    let signature = crate::git::signature(&git)?;
    let tree = git.find_tree(git.treebuilder(None)?.write()?)?;
    let record = serde_json::to_string(holder).unwrap_or_default();
    let message = format!("promote lock: {env}\n\n{record}\n");
    let oid = git.commit(None, &signature, &signature, &message, &tree, &[])?;
    git.reference(&name, oid, true, "promote: lock taken")?;
    // Several times only when the lock is released between a refused push and the look at it.
    for _ in 0..3 {
        match crate::git::push(&git, remote, &format!("{name}:{name}")) {
            Ok(()) => {}
            Err(PushError::Rejected(_)) => {}
            Err(PushError::Other(e)) => {
                drop_local(&git, &name, oid);
                return Err(Diagnostic::new(format!(
                    "cannot take the lock of `{env}` on `{remote}`: {}",
                    e.message
                )));
            }
        }
        match read(repo, remote, env)? {
            Some((found, _)) if found == oid => {
                return Ok(Ok(Held {
                    repo: repo.to_path_buf(),
                    remote: remote.to_owned(),
                    env: env.to_owned(),
                    oid,
                }))
            }
            Some((_, other)) => {
                drop_local(&git, &name, oid);
                return Ok(Err(other));
            }
            None => continue,
        }
    }
    drop_local(&git, &name, oid);
    Ok(Err(None))
}

/// The remote's lock of `env`: its commit and who holds it (`None` when its record cannot be
/// read); `None` when the remote has no lock.
pub(super) fn read(repo: &Path, remote: &str, env: &str) -> Result<Option<(Oid, Option<Holder>)>> {
    let git = open(repo)?;
    let name = refname(env)?;
    let fetched = format!("{FETCHED}{}", crate::keys::encode(env)?);
    // A stale fetched ref must not pass for the remote's lock.
    if let Ok(mut r) = git.find_reference(&fetched) {
        r.delete()?;
    }
    crate::git::fetch(&git, remote, &format!("+{name}:{fetched}"))
        .doing(|| format!("cannot read the lock of `{env}` on `{remote}`"))?;
    let Ok(oid) = git.refname_to_id(&fetched) else {
        return Ok(None);
    };
    let holder = git.find_commit(oid).ok().and_then(|c| {
        let message = c.message().ok()?.to_owned();
        let line = message.lines().find(|l| l.starts_with('{'))?.to_owned();
        serde_json::from_str(&line).ok()
    });
    Ok(Some((oid, holder)))
}

/// Deletes the remote's lock of `env` (read as `oid`) and the local copy of it.
pub(super) fn remove(repo: &Path, remote: &str, env: &str, oid: Oid) -> Result<()> {
    let git = open(repo)?;
    let name = refname(env)?;
    crate::git::push(&git, remote, &format!(":{name}")).map_err(|e| {
        Diagnostic::new(format!(
            "cannot release the lock of `{env}` on `{remote}`: {e}"
        ))
    })?;
    drop_local(&git, &name, oid);
    Ok(())
}

/// Deletes the local ref `name` if it still points at `oid`.
fn drop_local(git: &Repository, name: &str, oid: Oid) {
    if let Ok(mut r) = git.find_reference(name) {
        if r.target() == Some(oid) {
            let _ = r.delete();
        }
    }
}

//! The remote lock: a ref `refs/promote/locks/<name>` on the state remote (`<name>` as for the
//! local lock, [`Scope::name`]), pointing at a commit with no parent whose message holds the
//! [`Holder`].
//!
//! Taking it is a compare-and-swap on the remote: the push is not forced, and a commit with no
//! parent never fast-forwards another, so the push lands only where the remote has no lock
//! (git's receive-pack, and libgit2's local transport, create the ref only if it is still
//! absent). The run then reads the remote's locks back and holds the lock only if the ref is its
//! own and no conflicting lock of the environment is there (another shard size, the whole
//! environment); otherwise it deletes its own ref again. Releasing deletes the remote ref, only
//! while it is still this run's. The remote's URL is shown only as [`crate::scrub::remote`]
//! shows it.

use std::path::{Path, PathBuf};

use git2::{Oid, Repository};

use super::{Holder, Scope};
use crate::diagnostic::{Diagnostic, Doing, Result};
use crate::git::PushError;

/// Where the locks are, locally and on the remote.
const PREFIX: &str = "refs/promote/locks/";
/// Where a remote's locks are fetched to, to be read: under a name of one reading, so that
/// runs in one clone do not read each other's fetch.
const FETCHED: &str = "refs/promote/fetched-locks/";

/// A remote lock this run holds.
#[derive(Debug, Clone)]
pub(super) struct Held {
    repo: PathBuf,
    remote: String,
    env: String,
    scope: Scope,
    oid: Oid,
}

impl Held {
    /// Deletes the remote lock if it is still this one, and the local copy of it.
    pub(super) fn release(&self) -> Result<()> {
        let found = list(&self.repo, &self.remote, &self.env)?;
        if found
            .iter()
            .any(|f| f.scope == self.scope && f.oid == self.oid)
        {
            remove(&self.repo, &self.remote, &self.env, self.scope, self.oid)?;
        }
        Ok(())
    }
}

/// A lock found on the remote.
pub(super) struct Found {
    /// The part of the environment it locks.
    pub(super) scope: Scope,
    /// Its commit.
    pub(super) oid: Oid,
    /// Who holds it (`None` when its record cannot be read).
    pub(super) holder: Option<Holder>,
}

fn refname(env: &str, scope: Scope) -> Result<String> {
    Ok(format!("{PREFIX}{}", scope.name(env)?))
}

fn open(repo: &Path) -> Result<Repository> {
    Repository::discover(repo).doing(|| format!("{} is not in a git repository", repo.display()))
}

/// Takes the lock of `scope` of `env` on `remote` for `holder`: `Ok(Err(found))` when another
/// run holds it or a lock conflicting with it.
pub(super) fn try_take(
    repo: &Path,
    remote: &str,
    env: &str,
    scope: Scope,
    holder: &Holder,
) -> Result<std::result::Result<Held, Found>> {
    let git = open(repo)?;
    let name = refname(env, scope)?;
    let shown = crate::scrub::remote(remote);
    let signature = crate::git::signature(&git)?;
    let tree = git.find_tree(git.treebuilder(None)?.write()?)?;
    let record = serde_json::to_string(holder).unwrap_or_default();
    let message = format!("promote lock: {env}{}\n\n{record}\n", scope.describe());
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
                    "cannot take the lock of `{env}` on `{shown}`: {}",
                    e.message
                )));
            }
        }
        let found = list(repo, remote, env)?;
        let Some(own) = found.iter().find(|f| f.scope == scope) else {
            continue;
        };
        if own.oid != oid {
            drop_local(&git, &name, oid);
            return Ok(Err(Found {
                scope,
                oid: own.oid,
                holder: own.holder.clone(),
            }));
        }
        let held = Held {
            repo: repo.to_path_buf(),
            remote: remote.to_owned(),
            env: env.to_owned(),
            scope,
            oid,
        };
        return match found
            .into_iter()
            .find(|f| f.scope != scope && scope.conflicts(f.scope))
        {
            None => Ok(Ok(held)),
            Some(other) => {
                held.release()?;
                Ok(Err(other))
            }
        };
    }
    drop_local(&git, &name, oid);
    Ok(Err(Found {
        scope,
        oid,
        holder: None,
    }))
}

/// The remote's locks of `env` (of the whole environment and of its shards).
pub(super) fn list(repo: &Path, remote: &str, env: &str) -> Result<Vec<Found>> {
    let git = open(repo)?;
    let fetched = format!("{FETCHED}{}/", reading_id());
    crate::git::fetch(&git, remote, &format!("+{PREFIX}*:{fetched}*")).doing(|| {
        format!(
            "cannot read the locks of `{env}` on `{}`",
            crate::scrub::remote(remote)
        )
    })?;
    let mut refs = Vec::new();
    for r in git.references_glob(&format!("{fetched}*"))? {
        let r = r?;
        if let (Some(name), Some(oid)) = (r.name().ok().map(str::to_owned), r.target()) {
            refs.push((name, oid));
        }
    }
    // Read once: the next reading fetches again.
    for (name, _) in &refs {
        git.find_reference(name)?.delete()?;
    }
    let names = refs
        .iter()
        .filter_map(|(n, _)| n.strip_prefix(fetched.as_str()));
    let mut found = Vec::new();
    for (scope, name) in super::Scope::of_env(env, names)? {
        let Some((_, oid)) = refs
            .iter()
            .find(|(n, _)| n.strip_prefix(fetched.as_str()) == Some(name))
        else {
            continue;
        };
        let holder = git.find_commit(*oid).ok().and_then(|c| {
            let message = c.message().ok()?.to_owned();
            let line = message.lines().find(|l| l.starts_with('{'))?.to_owned();
            serde_json::from_str(&line).ok()
        });
        found.push(Found {
            scope,
            oid: *oid,
            holder,
        });
    }
    Ok(found)
}

/// A name for one reading of the remote's locks, unique on this host.
fn reading_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    let random = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    format!("{}-{random:016x}", std::process::id())
}

/// Deletes the remote's lock of `scope` of `env` (read as `oid`) and the local copy of it.
pub(super) fn remove(repo: &Path, remote: &str, env: &str, scope: Scope, oid: Oid) -> Result<()> {
    let git = open(repo)?;
    let name = refname(env, scope)?;
    crate::git::push(&git, remote, &format!(":{name}")).map_err(|e| {
        Diagnostic::new(format!(
            "cannot release the lock of `{env}`{} on `{}`: {e}",
            scope.describe(),
            crate::scrub::remote(remote)
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

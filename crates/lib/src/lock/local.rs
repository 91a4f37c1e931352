//! The local lock: a file `promote/locks/<name>.lock` in the repository's git common directory
//! (so every work tree of one repository sees the same lock; `.promote/locks/` outside git),
//! holding its [`Holder`] as JSON; `<name>` is the environment's, followed by the shard's for a
//! shard ([`Scope::name`]).
//! It is created whole or not at all, and only if absent (a temporary file linked into place):
//! of two runs, exactly one creates it.

use std::path::{Path, PathBuf};

use super::{Holder, Place, Scope, Taken};
use crate::diagnostic::{Diagnostic, Doing, Result};

/// The directory of the lock files, under the git common directory.
const DIR: &str = "promote/locks";

/// Where the lock named `name` is for the repository at `repo`: under the git common
/// directory, or, for a configuration directory outside git (which can apply nothing, having
/// nowhere to record it, but can roll back), under its `.promote/`.
pub(super) fn path(repo: &Path, name: &str) -> Result<PathBuf> {
    Ok(dir(repo)?.join(format!("{name}.lock")))
}

/// The directory of the lock files of the repository at `repo`.
fn dir(repo: &Path) -> Result<PathBuf> {
    Ok(match git2::Repository::discover(repo) {
        Ok(git) => git.commondir().join(DIR),
        Err(_) => crate::files::work_dir(repo)?.join("locks"),
    })
}

/// Every lock of `env` here (of the whole environment and of its shards), with its path.
pub(super) fn all_of(repo: &Path, env: &str) -> Result<Vec<(PathBuf, Taken)>> {
    let dir = dir(repo)?;
    let entries = match std::fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).doing(|| format!("cannot list the locks in {}", dir.display())),
    };
    let names: Vec<String> = entries
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .collect();
    let stems = names.iter().filter_map(|n| n.strip_suffix(".lock"));
    let mut found = Vec::new();
    for (scope, stem) in Scope::of_env(env, stems)? {
        let path = dir.join(format!("{stem}.lock"));
        // Released since the listing: not a lock any more.
        if let Some(holder) = read(&path)? {
            let taken = Taken {
                place: Place::Local,
                scope,
                holder,
            };
            found.push((path, taken));
        }
    }
    Ok(found)
}

/// What [`conflicting`] found.
pub(super) struct Conflicts {
    /// The holders of conflicting locks that died on this host, whose locks were removed.
    pub(super) taken_over: Vec<Holder>,
    /// A conflicting lock held by a run that is alive, or that this host cannot tell about.
    pub(super) held: Option<Taken>,
}

/// Looks for the locks of `env` that conflict with one of `scope` (other than that one
/// itself), removing those whose holder died on this host.
pub(super) fn conflicting(repo: &Path, env: &str, scope: Scope) -> Result<Conflicts> {
    let mut found = Conflicts {
        taken_over: Vec::new(),
        held: None,
    };
    for (path, taken) in all_of(repo, env)? {
        if taken.scope == scope || !scope.conflicts(taken.scope) {
            continue;
        }
        match &taken.holder {
            Some(h) if h.alive() == Some(false) => {
                remove_if(&path, h)?;
                found.taken_over.push(h.clone());
            }
            _ => {
                found.held = Some(taken);
                return Ok(found);
            }
        }
    }
    Ok(found)
}

/// What [`try_take`] found.
pub(super) enum Took {
    /// The lock is this run's.
    Taken,
    /// The lock is this run's, after its holder was found dead on this host.
    TakenOver(Holder),
    /// Another run holds it (`None`: its record cannot be read).
    Held(Option<Holder>),
}

/// Takes the lock at `path` for `holder`. A lock whose holder ran on this host and whose
/// process is gone (killed, or the machine restarted) is taken over, as git does with a dead
/// `gc.pid`: that run writes nothing any more, and what it wrote is in the next plan.
pub(super) fn try_take(path: &Path, holder: &Holder) -> Result<Took> {
    let (dir, name) = split(path)?;
    let json = serde_json::to_vec_pretty(holder).unwrap_or_default();
    let mut took_over = None;
    loop {
        match crate::files::create_under(dir, name, &json, crate::files::WriteMode::PRIVATE) {
            Ok(_) => {
                return Ok(match took_over {
                    Some(dead) => Took::TakenOver(dead),
                    None => Took::Taken,
                })
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => match read(path)? {
                Some(Some(found)) if found.alive() == Some(false) && took_over.is_none() => {
                    remove_if(path, &found)?;
                    took_over = Some(found);
                }
                Some(found) => return Ok(Took::Held(found)),
                // Released between the two looks: try again.
                None => continue,
            },
            Err(e) => return Err(e).doing(|| "cannot take the environment lock".to_owned()),
        }
    }
}

/// Removes the lock at `path` if `dead` still holds it. Runs that find one dead holder at once
/// take turns (a `.break` file made only if absent), so that none removes the lock another
/// just took; a `.break` left by a killed run is passed over after a few seconds.
fn remove_if(path: &Path, dead: &Holder) -> Result<()> {
    let (dir, name) = split(path)?;
    let turn = format!("{name}.break");
    let turn_path = dir.join(&turn);
    let mut waited = 0;
    loop {
        match crate::files::create_under(dir, &turn, b"", crate::files::WriteMode::COPY) {
            Ok(_) => break,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let old = std::fs::metadata(&turn_path)
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|t| t.elapsed().ok())
                    .is_some_and(|age| age > std::time::Duration::from_secs(10));
                if old || waited > 200 {
                    let _ = std::fs::remove_file(&turn_path);
                }
                waited += 1;
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            Err(e) => return Err(e).doing(|| "cannot break a stale lock".to_owned()),
        }
    }
    let result = match read(path) {
        Ok(Some(Some(h))) if h.id == dead.id => remove(path),
        Ok(_) => Ok(()),
        Err(e) => Err(e),
    };
    let _ = std::fs::remove_file(&turn_path);
    result
}

/// Who holds the lock at `path`: `None` when nobody, `Some(None)` when its record cannot be
/// read.
pub(super) fn read(path: &Path) -> Result<Option<Option<Holder>>> {
    match crate::files::read_limited(path, 64 * 1024) {
        Ok(bytes) => Ok(Some(serde_json::from_slice(&bytes).ok())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).doing(|| format!("cannot read the lock {}", path.display())),
    }
}

/// Releases the lock at `path` if it is still the one `id` took.
pub(super) fn release(path: &Path, id: &str) -> Result<()> {
    match read(path)? {
        Some(Some(h)) if h.id == id => remove(path),
        _ => Ok(()),
    }
}

/// Removes the lock at `path`, whoever holds it.
pub(super) fn remove(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).doing(|| format!("cannot remove the lock {}", path.display())),
    }
}

/// The git common directory and the lock's path under it, for [`crate::files::create_under`].
fn split(path: &Path) -> Result<(&Path, &str)> {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| Diagnostic::new(format!("{} is not a lock file", path.display())))?;
    let dir = path
        .parent()
        .ok_or_else(|| Diagnostic::new(format!("{} is not a lock file", path.display())))?;
    Ok((dir, name))
}

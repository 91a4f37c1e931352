//! The local lock: a file `promote/locks/<env>.lock` in the repository's git common directory
//! (so every work tree of one repository sees the same lock), holding its [`Holder`] as JSON.
//! It is created whole or not at all, and only if absent (a temporary file linked into place):
//! of two runs, exactly one creates it.

use std::path::{Path, PathBuf};

use super::Holder;
use crate::diagnostic::{Diagnostic, Doing, Result};

/// The directory of the lock files, under the git common directory.
const DIR: &str = "promote/locks";

/// Where the lock of `env` is for the repository at `repo`.
pub(super) fn path(repo: &Path, env: &str) -> Result<PathBuf> {
    let git = git2::Repository::discover(repo).map_err(|e| {
        Diagnostic::new(format!(
            "{} is not in a git repository ({}); the environment lock lives in git's directory",
            repo.display(),
            e.message()
        ))
    })?;
    let name = format!("{}.lock", crate::keys::encode(env)?);
    Ok(git.commondir().join(DIR).join(name))
}

/// The environment a lock file is of.
pub(super) fn env_of(path: &Path) -> Option<String> {
    let stem = path.file_name()?.to_str()?.strip_suffix(".lock")?;
    crate::keys::decode(stem).ok()
}

/// Takes the lock at `path` for `holder`: `Ok(Err(who))` when it is taken (`who` is `None`
/// when its record cannot be read).
pub(super) fn try_take(
    path: &Path,
    holder: &Holder,
) -> Result<std::result::Result<(), Option<Holder>>> {
    let (dir, name) = split(path)?;
    let json = serde_json::to_vec_pretty(holder).unwrap_or_default();
    loop {
        match crate::files::create_under(dir, name, &json, crate::files::WriteMode::PRIVATE) {
            Ok(_) => return Ok(Ok(())),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => match read(path)? {
                Some(found) => return Ok(Err(found)),
                // Released between the two looks: try again.
                None => continue,
            },
            Err(e) => return Err(e).doing(|| "cannot take the environment lock".to_owned()),
        }
    }
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

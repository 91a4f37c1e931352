//! Reading and writing files safely.
//!
//! The repository's content is untrusted (in CI it is whatever a pull request committed), and so
//! are names that come from the platform. Every read of a file whose path comes from there goes
//! through [`read_input`] or [`read_limited`]: regular files only (a FIFO would hang the run,
//! `/dev/zero` would fill memory), of bounded size. Every write under a directory goes through
//! [`write_under`]: atomically (a temporary file, then a rename), and never through a symlink on
//! the way. promote's own directory `.promote/` comes from [`work_dir`], which refuses a
//! `.promote` that is a symlink or that git tracks. "Git-ignored" means ignored *and* not
//! tracked ([`tracked_work_tree`]).

use std::path::{Component, Path, PathBuf};

use crate::diagnostic::{Diagnostic, Result};

pub use promote_fs::{
    create_under, inside, over_limit, plain_dirs, read_input, read_limited, too_large,
    write_atomic, write_under, WriteMode, MAX_INPUT_FILE,
};

/// The name of promote's own directory in a configuration repository (backups, the embedded
/// emulator's data): never committed.
pub(crate) const WORK_DIR: &str = ".promote";

/// The `.gitignore` promote writes in [`WORK_DIR`].
const WORK_DIR_IGNORE: &str =
    "# promote's own files (backups, emulator data): never committed\n*\n";

/// Returns `repo/.promote`, creating it with promote's own `.gitignore` of `*`, so that git
/// ignores it even in a repository whose own `.gitignore` does not name it (backups there hold
/// credentials). Refuses a `.promote` that is a symlink (it would move credentials elsewhere)
/// or that holds anything git tracks (a committed `.gitignore` could un-ignore the backups, a
/// committed file would be overwritten with credentials).
pub fn work_dir(repo: &Path) -> Result<PathBuf, Diagnostic> {
    let dir = repo.join(WORK_DIR);
    let shown = dir.display().to_string();
    let problem = |why: String| Diagnostic::new(why).in_file(&shown);
    match std::fs::symlink_metadata(&dir) {
        Ok(m) if m.file_type().is_symlink() => {
            return Err(problem(format!(
                "refusing to use {WORK_DIR}: it is a symlink, and promote keeps credentials there (backups, emulator data)"
            ))
            .hint(format!(
                "remove the symlink (git rm --cached {WORK_DIR} if it is committed); promote makes {WORK_DIR}/ itself"
            )));
        }
        Ok(m) if !m.is_dir() => {
            return Err(problem(format!("{WORK_DIR} is not a directory"))
                .hint(format!("remove it; promote makes {WORK_DIR}/ itself")));
        }
        _ => {}
    }
    if let Some(tracked) = tracked_at(&dir) {
        return Err(problem(format!(
            "refusing to use {WORK_DIR}: git tracks {tracked}, and promote keeps credentials in {WORK_DIR}/ (backups, emulator data) on the promise that git ignores it"
        ))
        .hint(format!(
            "take it out of git (git rm -r --cached {WORK_DIR}, and commit); promote writes {WORK_DIR}/.gitignore itself"
        )));
    }
    let current = std::fs::symlink_metadata(dir.join(".gitignore"))
        .ok()
        .filter(std::fs::Metadata::is_file)
        .and_then(|_| read_limited(&dir.join(".gitignore"), 4096).ok());
    if current.as_deref() != Some(WORK_DIR_IGNORE.as_bytes()) {
        write_under(
            &dir,
            ".gitignore",
            WORK_DIR_IGNORE.as_bytes(),
            WriteMode::COPY,
        )
        .map_err(|e| problem(format!("{e:#}")))?;
    }
    Ok(dir)
}

/// Where apply saves backups: `repo/.promote/backups` ([`work_dir`]).
pub fn backups_dir(repo: &Path) -> Result<PathBuf, Diagnostic> {
    Ok(work_dir(repo)?.join("backups"))
}

/// Where rollback looks for backups: this work tree's ([`backups_dir`]) first, then those of
/// every other work tree of the same git repository (the main one and each `git worktree`),
/// at the same place in each. Applies from two work trees take turns under one environment
/// lock, so the latest backup of a tenant may be in the other one. A `.promote` that is a
/// symlink in another work tree is passed over.
pub fn backup_dirs(repo: &Path) -> Result<Vec<PathBuf>, Diagnostic> {
    let own = backups_dir(repo)?;
    let mut dirs = vec![own.clone()];
    let Ok(git) = git2::Repository::discover(repo) else {
        return Ok(dirs);
    };
    let prefix = crate::source::repo_prefix(&git, repo);
    let mut trees: Vec<PathBuf> = Vec::new();
    if git.is_worktree() {
        // A linked work tree's common directory is the main work tree's `.git`.
        if let Some(main) = git.commondir().parent() {
            trees.push(main.to_path_buf());
        }
    } else if let Some(main) = git.workdir() {
        trees.push(main.to_path_buf());
    }
    if let Ok(names) = git.worktrees() {
        for name in names.iter().flatten().flatten() {
            if let Ok(tree) = git.find_worktree(name) {
                trees.push(tree.path().to_path_buf());
            }
        }
    }
    let same = |a: &Path, b: &Path| match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    };
    for tree in trees {
        let work = tree.join(&prefix).join(WORK_DIR);
        let plain = std::fs::symlink_metadata(&work).is_ok_and(|m| m.is_dir());
        let dir = work.join("backups");
        if plain && !dirs.iter().any(|d| same(d, &dir)) {
            dirs.push(dir);
        }
    }
    Ok(dirs)
}

/// The git repository `path` (which need not exist yet) would be in, its work tree, and the
/// path relative to that work tree.
fn in_work_tree(path: &Path) -> Option<(git2::Repository, PathBuf, PathBuf)> {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    // The nearest directory that exists tells which repository the path would be in.
    let existing = absolute
        .ancestors()
        .find(|p| p.exists())
        .unwrap_or(Path::new("/"));
    let repo = git2::Repository::discover(existing).ok()?;
    let workdir = repo.workdir()?;
    let workdir = workdir
        .canonicalize()
        .unwrap_or_else(|_| workdir.to_path_buf());
    let inside = existing
        .canonicalize()
        .map(|e| e.join(absolute.strip_prefix(existing).unwrap_or(Path::new(""))))
        .unwrap_or(absolute.clone());
    let rel = inside.strip_prefix(&workdir).ok()?.to_path_buf();
    Some((repo, workdir, rel))
}

/// Returns the git work tree `path` (which need not exist yet) is inside of, when a commit
/// could take a file there: unless git ignores the place *and* tracks nothing there (neither
/// the path itself nor, for a directory, any file under it, in the index or in HEAD). `None`
/// outside any work tree and in ignored, untracked places.
pub(crate) fn tracked_work_tree(path: &Path) -> Option<PathBuf> {
    let (repo, workdir, rel) = in_work_tree(path)?;
    if !rel.as_os_str().is_empty()
        && repo.is_path_ignored(&rel).unwrap_or(false)
        && tracked_in(&repo, &rel).is_none()
    {
        return None;
    }
    Some(workdir)
}

/// Returns the first path git tracks at or under `path` (which need not exist), relative to
/// its work tree, from the index or HEAD's tree; `None` outside git and where nothing is
/// tracked.
pub(crate) fn tracked_at(path: &Path) -> Option<String> {
    let (git, _, rel) = in_work_tree(path)?;
    tracked_in(&git, &rel)
}

/// Returns the first path at or under `rel` that is in the index or in HEAD's tree of `repo`.
fn tracked_in(repo: &git2::Repository, rel: &Path) -> Option<String> {
    let rel: Vec<String> = rel
        .components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect();
    let rel = rel.join("/");
    if rel.is_empty() {
        return None;
    }
    let below = format!("{rel}/");
    // An index that cannot be read could track anything: the answer is then "tracked".
    let Ok(index) = repo.index() else {
        return Some(format!("{rel} (git's index cannot be read)"));
    };
    for entry in index.iter() {
        let path = String::from_utf8_lossy(&entry.path);
        if path == rel || path.starts_with(&below) {
            return Some(path.into_owned());
        }
    }
    let head = repo.head().ok()?.peel_to_tree().ok()?;
    head.get_path(Path::new(&rel)).ok().map(|_| rel)
}

/// The file in an exported directory that lists, one per line, the files promote wrote there
/// (`export`):
/// the only ones a later export may remove.
pub(crate) const MANIFEST: &str = ".promote-export";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_work_dir_ignores_itself() {
        let repo = tempfile::tempdir().unwrap();
        git2::Repository::init(repo.path()).unwrap();
        let dir = work_dir(repo.path()).unwrap();
        std::fs::write(dir.join("backup.json"), "{}").unwrap();
        let git = git2::Repository::open(repo.path()).unwrap();
        assert!(git
            .is_path_ignored(Path::new(".promote/backup.json"))
            .unwrap());
        assert!(git.is_path_ignored(Path::new(".promote/new/x")).unwrap());
        // Twice is fine.
        work_dir(repo.path()).unwrap();
    }

    #[test]
    fn the_work_dir_rewrites_a_gitignore_it_did_not_write() {
        let repo = tempfile::tempdir().unwrap();
        git2::Repository::init(repo.path()).unwrap();
        std::fs::create_dir(repo.path().join(".promote")).unwrap();
        std::fs::write(repo.path().join(".promote/.gitignore"), "!*\n").unwrap();
        work_dir(repo.path()).unwrap();
        let git = git2::Repository::open(repo.path()).unwrap();
        assert!(git
            .is_path_ignored(Path::new(".promote/backups/x.json"))
            .unwrap());
    }

    #[cfg(unix)]
    #[test]
    fn a_work_dir_that_is_a_symlink_is_refused() {
        let repo = tempfile::tempdir().unwrap();
        let elsewhere = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(elsewhere.path(), repo.path().join(".promote")).unwrap();
        let e = work_dir(repo.path()).unwrap_err().to_string();
        assert!(e.contains("it is a symlink"), "{e}");
        assert_eq!(std::fs::read_dir(elsewhere.path()).unwrap().count(), 0);
    }

    #[test]
    fn a_tracked_work_dir_is_refused() {
        let repo = tempfile::tempdir().unwrap();
        let git = git2::Repository::init(repo.path()).unwrap();
        std::fs::create_dir(repo.path().join(".promote")).unwrap();
        std::fs::write(repo.path().join(".promote/.gitignore"), "!*\n").unwrap();
        let mut index = git.index().unwrap();
        index.add_path(Path::new(".promote/.gitignore")).unwrap();
        index.write().unwrap();
        let e = work_dir(repo.path()).unwrap_err().to_string();
        assert!(
            e.contains("git tracks .promote/.gitignore") && e.contains("git rm -r --cached"),
            "{e}"
        );
    }

    #[test]
    fn ignored_means_ignored_and_not_tracked() {
        let repo = tempfile::tempdir().unwrap();
        let git = git2::Repository::init(repo.path()).unwrap();
        std::fs::create_dir(repo.path().join("out")).unwrap();
        std::fs::write(repo.path().join("out/a.yaml"), "a").unwrap();
        std::fs::write(repo.path().join("secrets.yaml"), "A: b").unwrap();
        std::fs::write(repo.path().join(".gitignore"), "out/\nsecrets.yaml\n").unwrap();
        assert_eq!(tracked_work_tree(&repo.path().join("secrets.yaml")), None);
        assert_eq!(tracked_work_tree(&repo.path().join("out")), None);
        let mut index = git.index().unwrap();
        index.add_path(Path::new("secrets.yaml")).unwrap();
        index.add_path(Path::new("out/a.yaml")).unwrap();
        index.write().unwrap();
        assert!(tracked_work_tree(&repo.path().join("secrets.yaml")).is_some());
        assert!(tracked_work_tree(&repo.path().join("out")).is_some());
        assert!(tracked_work_tree(&repo.path().join("out/a.yaml")).is_some());
        // In HEAD but no longer in the index (`git rm --cached`, not committed yet): tracked.
        let tree = git.find_tree(index.write_tree().unwrap()).unwrap();
        let sig = git2::Signature::now("t", "t@example.com").unwrap();
        git.commit(Some("HEAD"), &sig, &sig, "m", &tree, &[])
            .unwrap();
        index.remove_path(Path::new("secrets.yaml")).unwrap();
        index.write().unwrap();
        assert!(tracked_work_tree(&repo.path().join("secrets.yaml")).is_some());
    }
}

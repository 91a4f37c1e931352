//! Writing files safely: atomically (temp file, fsync, rename) and never outside a directory.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

/// Writes `bytes` to `path` atomically: readers see the old file or the new one, never half.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("cannot write in {}", dir.display()))?;
    tmp.write_all(bytes)
        .and_then(|()| tmp.as_file().sync_all())
        .with_context(|| format!("cannot write {}", path.display()))?;
    tmp.persist(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// Writes `bytes` to `path` atomically, readable and writable by the owner only (mode 0600 on
/// Unix: the file may hold credentials). Its directory is created if needed.
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    // `NamedTempFile` creates its file with mode 0600, and the rename keeps it.
    write_atomic(path, bytes)
}

/// The largest input file promote reads (a template, an environment file, a baseline tree):
/// hostile input is refused before it is read, not after it filled memory.
pub const MAX_INPUT_FILE: u64 = 32 << 20;

/// Reads `path` whole, refusing a file over [`MAX_INPUT_FILE`].
pub fn read_input(path: &Path) -> std::io::Result<Vec<u8>> {
    let size = std::fs::metadata(path)?.len();
    if size > MAX_INPUT_FILE {
        return Err(std::io::Error::other(too_large(size)));
    }
    std::fs::read(path)
}

/// Why a file of `size` bytes is not read.
pub fn too_large(size: u64) -> String {
    format!(
        "the file is {} MiB; promote reads files of at most {} MiB",
        size >> 20,
        MAX_INPUT_FILE >> 20
    )
}

/// The name of promote's own directory in a configuration repository (backups, the embedded
/// emulator's data): never committed.
pub const WORK_DIR: &str = ".promote";

/// Returns `repo/.promote`, creating it with a `.gitignore` of `*` so that git ignores it even in
/// a repository whose own `.gitignore` does not name it (backups there hold credentials).
pub fn work_dir(repo: &Path) -> Result<PathBuf> {
    let dir = repo.join(WORK_DIR);
    let ignore = dir.join(".gitignore");
    if !ignore.exists() {
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        std::fs::write(
            &ignore,
            "# promote's own files (backups, emulator data): never committed\n*\n",
        )
        .with_context(|| format!("cannot write {}", ignore.display()))?;
    }
    Ok(dir)
}

/// Returns the git work tree `path` (which need not exist yet) is inside of, when git does not
/// ignore it there: a place where a commit could take a file. `None` outside any work tree and
/// in ignored places.
pub fn tracked_work_tree(path: &Path) -> Option<PathBuf> {
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
    let rel = inside.strip_prefix(&workdir).ok()?;
    if !rel.as_os_str().is_empty() && repo.is_path_ignored(rel).unwrap_or(false) {
        return None;
    }
    Some(workdir)
}

/// Returns `base/rel` after checking that `rel` (a '/'-separated path built from keys) stays
/// inside `base`: no empty, `.` or `..` component, no absolute path.
pub fn inside(base: &Path, rel: &str) -> Result<PathBuf> {
    let mut out = base.to_path_buf();
    for part in rel.split('/') {
        if part.is_empty()
            || part == "."
            || part == ".."
            || part.contains('\\')
            || part.contains('\0')
        {
            bail!(
                "refusing to write {rel:?}: it would leave {}",
                base.display()
            );
        }
        out.push(part);
    }
    Ok(out)
}

/// Writes the layout files of one tree into `dir`, replacing what a previous run left there.
pub fn write_layout(dir: &Path, files: &[(String, String)]) -> Result<()> {
    if dir.exists() {
        std::fs::remove_dir_all(dir)
            .with_context(|| format!("cannot replace {}", dir.display()))?;
    }
    for (rel, text) in files {
        write_atomic(&inside(dir, rel)?, text.as_bytes())?;
    }
    Ok(())
}

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
    fn refuses_paths_that_leave_the_directory() {
        let base = Path::new("/tmp/x");
        assert!(inside(base, "a/b.yaml").is_ok());
        for bad in ["../a", "a/../../b", "/etc/passwd", "a//b", ".", "a\\..\\b"] {
            assert!(inside(base, bad).is_err(), "{bad}");
        }
    }
}

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

use std::io::{Read, Write};
use std::path::{Component, Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::diagnostic::Diagnostic;

/// Writes `bytes` to `path` atomically: readers see the old file or the new one, never half.
/// For paths the user chose (`--out`); under a directory whose content is not the user's own
/// choice, use [`write_under`].
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

/// How [`write_under`] writes a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteMode {
    /// Mode 0600 (the file may hold credentials) rather than 0644.
    pub private: bool,
    /// fsync the file before it replaces the old one.
    pub sync: bool,
}

impl WriteMode {
    /// Credentials that must survive a crash (backups, the emulator's data): 0600, fsync'd.
    pub const PRIVATE: WriteMode = WriteMode {
        private: true,
        sync: true,
    };
    /// A working copy, recreated by running the command again (exports): 0644, not fsync'd.
    pub const COPY: WriteMode = WriteMode {
        private: false,
        sync: false,
    };
}

/// Writes `bytes` to `base/rel` atomically (a temporary file renamed over it), never through a
/// symlink: `base` and every directory of `rel` below it must be plain directories (missing
/// ones are created), and a symlink at `rel` itself is replaced, not followed. `rel` is a
/// '/'-separated path that must stay inside `base` ([`inside`]). Returns the path written.
pub fn write_under(base: &Path, rel: &str, bytes: &[u8], mode: WriteMode) -> Result<PathBuf> {
    let path = inside(base, rel)?;
    let parent = plain_dirs(base, rel, true)?;
    let mut tmp = tempfile::NamedTempFile::new_in(&parent)
        .with_context(|| format!("cannot write in {}", parent.display()))?;
    tmp.write_all(bytes)
        .with_context(|| format!("cannot write {}", path.display()))?;
    #[cfg(unix)]
    if !mode.private {
        use std::os::unix::fs::PermissionsExt;
        // `NamedTempFile` creates its file with mode 0600, and the rename keeps it.
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644))
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    if mode.sync {
        tmp.as_file()
            .sync_all()
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    tmp.persist(&path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}

/// Returns the directory of `base/rel` after checking that `base` and every directory of
/// `rel` below it is a plain directory, not a symlink; with `create`, missing ones are made
/// (`base` with its parents: what is above `base` is the caller's choice).
pub fn plain_dirs(base: &Path, rel: &str, create: bool) -> Result<PathBuf> {
    let parents = rel.rsplit_once('/').map_or("", |(p, _)| p);
    let mut at = base.to_path_buf();
    check_dir(&at, create, true)?;
    for part in parents.split('/').filter(|p| !p.is_empty()) {
        at.push(part);
        check_dir(&at, create, false)?;
    }
    Ok(at)
}

/// Fails when `dir` is a symlink or exists and is not a directory; makes it when missing and
/// `create` (with its parents when `parents`).
fn check_dir(dir: &Path, create: bool, parents: bool) -> Result<()> {
    match std::fs::symlink_metadata(dir) {
        Ok(m) if m.file_type().is_symlink() => bail!(
            "refusing to write through the symlink {}: promote writes only into plain directories",
            dir.display()
        ),
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => bail!("{} is not a directory", dir.display()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && create => {
            let made = if parents {
                std::fs::create_dir_all(dir)
            } else {
                std::fs::create_dir(dir)
            };
            match made {
                Ok(()) => Ok(()),
                // Made by another writer meanwhile: check what it is.
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    check_dir(dir, false, false)
                }
                Err(e) => Err(e).with_context(|| format!("cannot create {}", dir.display())),
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", dir.display())),
    }
}

/// The largest input file promote reads (a template, an environment file, a baseline tree):
/// hostile input is refused before it is read, not after it filled memory.
pub const MAX_INPUT_FILE: u64 = 32 << 20;

/// Reads `path` whole, refusing anything but a regular file and a file over
/// [`MAX_INPUT_FILE`].
pub fn read_input(path: &Path) -> std::io::Result<Vec<u8>> {
    read_limited(path, MAX_INPUT_FILE)
}

/// Reads `path` whole (following a symlink: callers that must not follow one check first),
/// refusing anything but a regular file and a file over `limit` bytes. The type is checked
/// before the file is opened, so a FIFO cannot hang the run, and the read stops at `limit`, so
/// a file that grows meanwhile cannot fill memory.
pub fn read_limited(path: &Path, limit: u64) -> std::io::Result<Vec<u8>> {
    let meta = std::fs::metadata(path)?;
    if !meta.is_file() {
        return Err(std::io::Error::other(not_regular(&meta)));
    }
    if meta.len() > limit {
        return Err(std::io::Error::other(over_limit(meta.len(), limit)));
    }
    let file = std::fs::File::open(path)?;
    // What was opened, should the path have changed since it was looked at.
    let opened = file.metadata()?;
    if !opened.is_file() {
        return Err(std::io::Error::other(not_regular(&opened)));
    }
    let mut bytes = Vec::with_capacity(opened.len().min(limit) as usize);
    file.take(limit + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(std::io::Error::other(over_limit(bytes.len() as u64, limit)));
    }
    Ok(bytes)
}

/// Why a file that is not a regular file is not read.
fn not_regular(meta: &std::fs::Metadata) -> String {
    let kind = file_kind(&meta.file_type());
    format!("it is {kind}, not a regular file; promote reads only regular files")
}

/// A word for a kind of file, for messages.
fn file_kind(t: &std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_fifo() {
            return "a FIFO";
        }
        if t.is_char_device() {
            return "a character device";
        }
        if t.is_block_device() {
            return "a block device";
        }
        if t.is_socket() {
            return "a socket";
        }
    }
    if t.is_dir() {
        "a directory"
    } else if t.is_symlink() {
        "a symlink"
    } else {
        "a special file"
    }
}

/// Why a file of `size` bytes is not read (the limit being [`MAX_INPUT_FILE`]).
pub fn too_large(size: u64) -> String {
    over_limit(size, MAX_INPUT_FILE)
}

/// Why a file of `size` bytes (at least) is not read when the limit is `limit`.
pub fn over_limit(size: u64, limit: u64) -> String {
    format!(
        "the file is {}; promote reads files of at most {}",
        bytes_text(size),
        bytes_text(limit)
    )
}

/// `12 MiB`, `3 KiB`, `20 bytes`.
fn bytes_text(n: u64) -> String {
    if n >= 1 << 20 {
        format!("{} MiB", n >> 20)
    } else if n >= 1 << 10 {
        format!("{} KiB", n >> 10)
    } else {
        format!("{n} bytes")
    }
}

/// The name of promote's own directory in a configuration repository (backups, the embedded
/// emulator's data): never committed.
pub const WORK_DIR: &str = ".promote";

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
pub fn tracked_work_tree(path: &Path) -> Option<PathBuf> {
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
pub fn tracked_at(path: &Path) -> Option<String> {
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

/// Writes the layout files of one tree into `dir`, replacing what a previous run wrote there
/// (and only that: see [`crate::export::write_dir`]).
pub fn write_layout(dir: &Path, files: &[(String, String)]) -> Result<()> {
    crate::export::write_dir(dir, files, false).map(|_| ())
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

    #[test]
    fn refuses_paths_that_leave_the_directory() {
        let base = Path::new("/tmp/x");
        assert!(inside(base, "a/b.yaml").is_ok());
        for bad in ["../a", "a/../../b", "/etc/passwd", "a//b", ".", "a\\..\\b"] {
            assert!(inside(base, bad).is_err(), "{bad}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn writing_under_a_directory_never_follows_a_symlink() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().join("base");
        let elsewhere = dir.path().join("elsewhere");
        std::fs::create_dir_all(&elsewhere).unwrap();
        let path = write_under(&base, "a/b.yaml", b"x", WriteMode::COPY).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"x");
        // A directory on the way that is a symlink: refused.
        std::os::unix::fs::symlink(&elsewhere, base.join("link")).unwrap();
        let e = write_under(&base, "link/b.yaml", b"x", WriteMode::COPY).unwrap_err();
        assert!(format!("{e:#}").contains("symlink"), "{e:#}");
        assert!(!elsewhere.join("b.yaml").exists());
        // The base itself a symlink: refused.
        let e = write_under(&base.join("link"), "b.yaml", b"x", WriteMode::COPY).unwrap_err();
        assert!(format!("{e:#}").contains("symlink"), "{e:#}");
        // A symlink at the file's own name is replaced, its target untouched.
        std::fs::write(elsewhere.join("target"), "keep").unwrap();
        std::os::unix::fs::symlink(elsewhere.join("target"), base.join("file")).unwrap();
        write_under(&base, "file", b"new", WriteMode::PRIVATE).unwrap();
        assert_eq!(
            std::fs::read_to_string(elsewhere.join("target")).unwrap(),
            "keep"
        );
        assert!(!base.join("file").is_symlink());
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(base.join("file"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o644);
    }

    #[cfg(unix)]
    #[test]
    fn only_regular_files_of_bounded_size_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let e = read_limited(Path::new("/dev/zero"), 1 << 20).unwrap_err();
        assert!(e.to_string().contains("a character device"), "{e}");
        let e = read_limited(dir.path(), 1 << 20).unwrap_err();
        assert!(e.to_string().contains("a directory"), "{e}");
        let big = dir.path().join("big");
        std::fs::write(&big, vec![b'x'; 2048]).unwrap();
        let e = read_limited(&big, 1024).unwrap_err();
        assert!(e.to_string().contains("at most 1 KiB"), "{e}");
        assert_eq!(read_limited(&big, 2048).unwrap().len(), 2048);
        // A FIFO with no writer: refused at once, not waited on.
        let fifo = dir.path().join("fifo");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        if made.is_ok_and(|s| s.success()) {
            let e = read_limited(&fifo, 1 << 20).unwrap_err();
            assert!(e.to_string().contains("a FIFO"), "{e}");
        }
    }
}

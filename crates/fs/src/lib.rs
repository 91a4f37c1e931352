//! Reading and writing files without leaving a directory.
//!
//! Names that come from a repository or a platform are untrusted. Every read of such a file
//! goes through [`read_input`] or [`read_limited`]: regular files only (a FIFO would hang the
//! run, `/dev/zero` would fill memory), of bounded size. Every write under a directory goes
//! through [`write_under`]: atomically (a temporary file, then a rename), and never through a
//! symlink on the way.
//!
//! Errors are [`std::io::Error`]s whose message says what could not be done and to which path
//! (`cannot write /x/y: Permission denied`), keeping the kind of the error underneath.

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

/// The result of this crate's functions.
pub type Result<T, E = io::Error> = std::result::Result<T, E>;

/// Says what was being done when an error happened, as an I/O error of the same kind (other
/// errors become [`io::ErrorKind::Other`]).
pub trait Doing<T> {
    fn doing(self, what: impl FnOnce() -> String) -> Result<T>;
}

impl<T, E: Into<io::Error>> Doing<T> for std::result::Result<T, E> {
    fn doing(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| {
            let e: io::Error = e.into();
            io::Error::new(e.kind(), format!("{}: {e}", what()))
        })
    }
}

/// An error that is not the operating system's, with `message` as its text.
pub fn refused(message: String) -> io::Error {
    io::Error::other(message)
}

/// Writes `bytes` to `path` atomically: readers see the old file or the new one, never half.
/// For paths the user chose (`--out`); under a directory whose content is not the user's own
/// choice, use [`write_under`].
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).doing(|| format!("cannot create {}", dir.display()))?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)
        .doing(|| format!("cannot write in {}", dir.display()))?;
    tmp.write_all(bytes)
        .and_then(|()| tmp.as_file().sync_all())
        .doing(|| format!("cannot write {}", path.display()))?;
    tmp.persist(path)
        .doing(|| format!("cannot write {}", path.display()))?;
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
    put_under(base, rel, bytes, mode, true)
}

/// As [`write_under`], but never replaces a file: when `base/rel` exists (another writer took
/// the name first), nothing is written and the error is of kind
/// [`io::ErrorKind::AlreadyExists`]. The file appears whole or not at all.
pub fn create_under(base: &Path, rel: &str, bytes: &[u8], mode: WriteMode) -> Result<PathBuf> {
    put_under(base, rel, bytes, mode, false)
}

fn put_under(
    base: &Path,
    rel: &str,
    bytes: &[u8],
    mode: WriteMode,
    replace: bool,
) -> Result<PathBuf> {
    let path = inside(base, rel)?;
    let parent = plain_dirs(base, rel, true)?;
    let mut tmp = tempfile::NamedTempFile::new_in(&parent)
        .doing(|| format!("cannot write in {}", parent.display()))?;
    tmp.write_all(bytes)
        .doing(|| format!("cannot write {}", path.display()))?;
    #[cfg(unix)]
    if !mode.private {
        use std::os::unix::fs::PermissionsExt;
        // `NamedTempFile` creates its file with mode 0600, and the rename keeps it.
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644))
            .doing(|| format!("cannot write {}", path.display()))?;
    }
    if mode.sync {
        tmp.as_file()
            .sync_all()
            .doing(|| format!("cannot write {}", path.display()))?;
    }
    if replace {
        tmp.persist(&path)
            .doing(|| format!("cannot write {}", path.display()))?;
    } else {
        tmp.persist_noclobber(&path)
            .doing(|| format!("cannot create {}", path.display()))?;
    }
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
        Ok(m) if m.file_type().is_symlink() => Err(refused(format!(
            "refusing to write through the symlink {}: promote writes only into plain directories",
            dir.display()
        ))),
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(refused(format!("{} is not a directory", dir.display()))),
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
                Err(e) => Err(e).doing(|| format!("cannot create {}", dir.display())),
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).doing(|| format!("cannot read {}", dir.display())),
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
            return Err(refused(format!(
                "refusing to write {rel:?}: it would leave {}",
                base.display()
            )));
        }
        out.push(part);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

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

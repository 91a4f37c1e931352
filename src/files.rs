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
    fn refuses_paths_that_leave_the_directory() {
        let base = Path::new("/tmp/x");
        assert!(inside(base, "a/b.yaml").is_ok());
        for bad in ["../a", "a/../../b", "/etc/passwd", "a//b", ".", "a\\..\\b"] {
            assert!(inside(base, bad).is_err(), "{bad}");
        }
    }
}

//! Records the commit promote is built from, for `promote --version`, as `PROMOTE_COMMIT`.
//!
//! Three sources, in order:
//! - `.cargo_vcs_info.json` beside `Cargo.toml`: what `cargo package` writes into a published
//!   crate (`cargo install promote`), with the commit it was packaged from (and `dirty` when
//!   the work tree had changes);
//! - git, when this directory is the top of a git work tree (a checkout, `cargo install --path`):
//!   `git rev-parse HEAD`; a directory inside some other repository (a vendored copy) is not
//!   taken for that repository's commit;
//! - otherwise `unknown commit`. A missing git never fails the build.
//!
//! The script runs again only when HEAD moves: cargo watches HEAD, the branch's ref and
//! packed-refs of the git directory, not the work tree (a build from uncommitted changes says
//! the commit they are based on).

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    // Without a `rerun-if-changed`, cargo would run this again whenever any file changed.
    println!("cargo:rerun-if-changed=build.rs");
    let commit = match std::fs::read_to_string(dir.join(".cargo_vcs_info.json")) {
        Ok(text) => from_vcs_info(&text),
        Err(_) => from_git(&dir),
    };
    println!(
        "cargo:rustc-env=PROMOTE_COMMIT={}",
        commit.as_deref().unwrap_or("unknown commit")
    );
}

/// The commit of a `.cargo_vcs_info.json` (`{"git": {"sha1": "…", "dirty": true}, …}`), read
/// without a JSON parser (a build dependency for one field is not worth its compile time).
fn from_vcs_info(text: &str) -> Option<String> {
    let start = text.find("\"sha1\"")? + "\"sha1\"".len();
    let rest = text[start..].trim_start().strip_prefix(':')?.trim_start();
    let sha = rest.strip_prefix('"')?.split('"').next()?;
    let dirty = text.contains("\"dirty\": true") || text.contains("\"dirty\":true");
    is_commit(sha).then(|| describe(sha, dirty))
}

/// The commit of HEAD when `dir` is the top of a git work tree, and the files to watch for it.
fn from_git(dir: &Path) -> Option<String> {
    let out = git(
        dir,
        &[
            "rev-parse",
            "--show-toplevel",
            "--git-dir",
            "--git-common-dir",
        ],
    )?;
    let mut lines = out.lines();
    let (top, git_dir, common) = (lines.next()?, lines.next()?, lines.next()?);
    let same = |a: &Path, b: &Path| match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    };
    if !same(Path::new(top), dir) {
        return None;
    }
    let git_dir = dir.join(git_dir);
    let common = dir.join(common);
    let mut watched = vec![git_dir.join("HEAD"), common.join("packed-refs")];
    if let Some(branch) = git(dir, &["symbolic-ref", "-q", "HEAD"]) {
        watched.push(common.join(branch.trim()));
    }
    // Only files that exist: cargo takes a missing one as changed, and would run this on every
    // build (a branch's ref can live in packed-refs alone; its file appears when it moves).
    for path in watched.iter().filter(|path| path.exists()) {
        println!("cargo:rerun-if-changed={}", path.display());
    }
    let sha = git(dir, &["rev-parse", "HEAD"])?;
    let sha = sha.trim();
    is_commit(sha).then(|| describe(sha, false))
}

/// What `git ARGS` printed in `dir`, if it ran and succeeded.
fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8(out.stdout).ok())
        .flatten()
}

/// Whether `sha` is a full commit ID (40 hex digits for SHA-1, 64 for SHA-256).
fn is_commit(sha: &str) -> bool {
    matches!(sha.len(), 40 | 64) && sha.bytes().all(|b| b.is_ascii_hexdigit())
}

/// `commit 0123456789ab`, the 12 digits promote prints of commits everywhere, and `, with
/// changes` when the package was made from a work tree that had them.
fn describe(sha: &str, dirty: bool) -> String {
    let short = &sha[..12];
    if dirty {
        format!("commit {short}, with changes")
    } else {
        format!("commit {short}")
    }
}

//! The file system and git on behalf of an untrusted repository (in CI, whatever a pull request
//! committed): symlinks into `.git/` and `.promote/`, a `.promote` that is a symlink or that git
//! tracks, "ignored" files that git tracks, a secrets file that is a device or a FIFO, two
//! emulators on one data directory, and IDs too long to be file names.

use std::path::Path;

use crate::support::{Run, TestRepo};

/// `promote apply --env local` (the embedded emulator in `.promote/emulator`).
fn apply_local(repo: &TestRepo) -> Run {
    repo.run(&["apply", "--env", "local"])
}

/// Commits the work tree on HEAD and, beside it, `extra` paths the harness never stages
/// (`.promote/...`): what a pull request could commit.
fn commit_with(repo: &TestRepo, extra: &[&str]) {
    repo.stage();
    let git = git2::Repository::open(repo.path()).unwrap();
    let mut index = git.index().unwrap();
    for path in extra {
        index.add_path(Path::new(path)).unwrap();
    }
    index.write().unwrap();
    let tree = git.find_tree(index.write_tree().unwrap()).unwrap();
    let parent = git.head().ok().and_then(|h| h.peel_to_commit().ok());
    let signature = git2::Signature::new(
        "promote tests",
        "tests@promote.invalid",
        &git2::Time::new(1_700_000_000, 0),
    )
    .unwrap();
    let parents: Vec<&git2::Commit> = parent.iter().collect();
    git.commit(
        Some("HEAD"),
        &signature,
        &signature,
        "committed",
        &tree,
        &parents,
    )
    .unwrap();
}

/// A `.promote` that is a symlink would move backups and emulator data (credentials)
/// out of the repository: refused, and nothing is written where it points.
#[cfg(unix)]
#[test]
fn a_promote_directory_that_is_a_symlink_is_refused() {
    let (repo, _) = TestRepo::example_in_git();
    let outside = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(outside.path(), repo.join(".promote")).unwrap();
    commit_with(&repo, &[".promote"]);
    apply_local(&repo)
        .code(1)
        .stderr_contains("refusing to use .promote: it is a symlink");
    assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 0);
    assert!(repo.state_commits().is_empty());
}

/// A committed `.promote/.gitignore` of `!*` would un-ignore the backups: a `.promote`
/// that holds anything git tracks is refused, with what to do, and no credential is written.
#[test]
fn a_tracked_promote_directory_is_refused_and_its_gitignore_not_trusted() {
    let (repo, _) = TestRepo::example_in_git();
    repo.write(".promote/.gitignore", "!*\n");
    commit_with(&repo, &[".promote/.gitignore"]);
    apply_local(&repo)
        .code(1)
        .stderr_contains("git tracks .promote/.gitignore")
        .stderr_contains("git rm -r --cached .promote");
    assert!(!repo.join(".promote/emulator").exists());
    assert!(!repo.join(".promote/backups").exists());
    assert_eq!(repo.read(".promote/.gitignore"), "!*\n");
    repo.run(&[
        "export",
        "--env",
        "local",
        "--out",
        ".promote/secrets",
        "--with-credentials",
    ])
    .code(1);
    assert!(!repo.join(".promote/secrets").exists());
}

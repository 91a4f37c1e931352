//! Writing to git without a checkout: commits on a ref by compare-and-swap, and who the author
//! is; trees and their objects are made in memory and written as packs by [`pack`].

pub(crate) mod pack;

use std::path::PathBuf;

use git2::{Oid, Repository, Signature};

use crate::diagnostic::{Diagnostic, Doing, Result};

/// The author and committer of promote's commits: `PROMOTE_GIT_AUTHOR` (`Name <email>`), else
/// git's `user.name` and `user.email`, else `promote <promote@localhost>`.
pub(crate) fn signature(repo: &Repository) -> Result<Signature<'static>> {
    if let Ok(author) = std::env::var("PROMOTE_GIT_AUTHOR") {
        let (name, email) = parse_author(&author).ok_or_else(|| {
            Diagnostic::new(format!(
                "PROMOTE_GIT_AUTHOR is `{author}`; write it as `Name <email>`"
            ))
        })?;
        return Ok(Signature::now(name, email)?);
    }
    repo.signature()
        .map(|s| s.to_owned())
        .or_else(|_| Signature::now("promote", "promote@localhost"))
        .doing(|| "cannot make a commit signature".to_owned())
}

fn parse_author(text: &str) -> Option<(&str, &str)> {
    let (name, rest) = text.split_once('<')?;
    let email = rest.strip_suffix('>')?.trim();
    let name = name.trim();
    (!name.is_empty() && !email.is_empty() && !email.contains(['<', '>'])).then_some((name, email))
}

/// Commits `tree` on `refname` with `parent` (what the ref pointed at when it was read) and
/// moves the ref by compare-and-swap: if another run moved it meanwhile, nothing is changed and
/// the error says so. Never touches HEAD, the index or the work tree.
pub(crate) fn commit_on(
    repo: &Repository,
    refname: &str,
    parent: Option<&git2::Commit<'_>>,
    tree: Oid,
    message: &str,
) -> Result<Oid> {
    try_commit_on(repo, refname, parent, tree, message)?.ok_or_else(|| {
        Diagnostic::new(format!(
            "{refname} moved while this run was writing (another run at the same time?); run it again"
        ))
    })
}

/// As [`commit_on`], but a ref that moved meanwhile, or that another process is moving right
/// now (git's `<ref>.lock` exists), is `Ok(None)`: the caller may read the new tip and try
/// again. Other failures are errors.
pub(crate) fn try_commit_on(
    repo: &Repository,
    refname: &str,
    parent: Option<&git2::Commit<'_>>,
    tree: Oid,
    message: &str,
) -> Result<Option<Oid>> {
    let tree = repo.find_tree(tree)?;
    let signature = signature(repo)?;
    let parents: Vec<&git2::Commit> = parent.into_iter().collect();
    let commit = repo.commit(None, &signature, &signature, message, &tree, &parents)?;
    let log = message.lines().next().unwrap_or_default();
    // Without a parent the ref must still be absent: the zero ID is compared under git's lock
    // on the ref. (`reference(.., force: false)` looks before it locks: of two runs creating
    // the ref at once, the second would overwrite the first.)
    let expected = parent.map_or(Oid::ZERO_SHA1, git2::Commit::id);
    match repo.reference_matching(refname, commit, true, expected, log) {
        Ok(_) => Ok(Some(commit)),
        Err(e) if is_race(&e) => Ok(None),
        Err(e) => Err(e).doing(|| format!("cannot move {refname}")),
    }
}

/// Whether `e` is another writer's doing: the ref moved, was created, or is being written.
fn is_race(e: &git2::Error) -> bool {
    matches!(
        e.code(),
        git2::ErrorCode::Modified | git2::ErrorCode::Locked | git2::ErrorCode::Exists
    )
}

/// Refuses a branch name (without `refs/heads/`) that git refuses, as `git branch` does:
/// `HEAD` and `@` (a branch of that name makes plain git commands ambiguous), a name starting with
/// `-` (taken for an option), and anything `git check-ref-format --branch` refuses (`..`,
/// `~`, `^`, `:`, spaces, a trailing `.lock`, ...).
pub(crate) fn check_branch_name(branch: &str) -> Result<(), Diagnostic> {
    let valid = branch != "HEAD"
        && branch != "@"
        && !branch.starts_with('-')
        && git2::Branch::name_is_valid(branch).unwrap_or(false)
        && git2::Reference::is_valid_name(&format!("refs/heads/{branch}"));
    if valid {
        return Ok(());
    }
    Err(
        Diagnostic::new(format!("`{branch}` is not a valid branch name")).hint(
            "name it as git allows (e.g. backups/prod): not HEAD or @, not starting with '-', without spaces, '..', '~', '^', ':', '?', '*', '[' or a trailing '.lock'",
        ),
    )
}

/// Returns the work trees (the main one and every linked one, `git worktree add`) whose HEAD
/// is the branch `refname`: moving that branch would leave them behind it. For a bare
/// repository whose HEAD names it, its git directory.
pub(crate) fn checked_out(repo: &Repository, refname: &str) -> Vec<PathBuf> {
    let on = |r: &Repository| {
        r.find_reference("HEAD")
            .ok()
            .and_then(|h| h.symbolic_target().ok().flatten().map(str::to_owned))
            .is_some_and(|target| target == refname)
    };
    let place = |r: &Repository| r.workdir().unwrap_or(r.path()).to_path_buf();
    let mut out = Vec::new();
    if on(repo) {
        out.push(place(repo));
    }
    // From a linked work tree, the main one is the repository of the common directory.
    if repo.is_worktree() {
        if let Ok(main) = Repository::open(repo.commondir()) {
            if on(&main) {
                out.push(place(&main));
            }
        }
    }
    if let Ok(names) = repo.worktrees() {
        for name in names.iter().flatten().flatten() {
            let opened = repo
                .find_worktree(name)
                .and_then(|w| Repository::open_from_worktree(&w));
            match opened {
                Ok(r) => {
                    if on(&r) {
                        out.push(place(&r));
                    }
                }
                // A work tree whose directory is gone still has its HEAD (until `git worktree
                // prune`), and git still counts its branch as checked out.
                Err(_) => {
                    let admin = repo.commondir().join("worktrees").join(name);
                    let head = crate::files::read_limited(&admin.join("HEAD"), 4096)
                        .ok()
                        .and_then(|b| String::from_utf8(b).ok());
                    if head.is_some_and(|h| h.trim() == format!("ref: {refname}")) {
                        out.push(admin);
                    }
                }
            }
        }
    }
    let mut seen = std::collections::HashSet::new();
    out.retain(|p| seen.insert(p.canonicalize().unwrap_or_else(|_| p.clone())));
    out
}

/// The commit `refname` points at, if it exists.
pub(crate) fn head_of<'r>(repo: &'r Repository, refname: &str) -> Result<Option<git2::Commit<'r>>> {
    match repo.find_reference(refname) {
        Ok(r) => {
            Ok(Some(r.peel_to_commit().doing(|| {
                format!("{refname} does not point at a commit")
            })?))
        }
        Err(e) if e.code() == git2::ErrorCode::NotFound => Ok(None),
        Err(e) => Err(e).doing(|| format!("cannot read {refname}")),
    }
}

/// Finds `remote` as a remote's name of `repo`, or else takes it as a URL.
fn remote<'r>(repo: &'r Repository, remote: &str) -> Result<git2::Remote<'r>> {
    crate::scrub::register_remote(remote);
    let shown = crate::scrub::remote(remote);
    repo.find_remote(remote)
        .or_else(|_| repo.remote_anonymous(remote))
        .doing(|| format!("`{shown}` is neither a remote of this repository nor a URL"))
}

/// Callbacks that sign in the way git does: the ssh agent, else git's credential helper.
fn callbacks<'a>(repo: &Repository) -> git2::RemoteCallbacks<'a> {
    let mut callbacks = git2::RemoteCallbacks::new();
    let config = repo.config().ok();
    let mut tried = 0;
    callbacks.credentials(move |url, username, allowed| {
        tried += 1;
        if tried > 3 {
            return Err(git2::Error::from_str(
                "the remote refused every credential tried (ssh agent, git credential helper)",
            ));
        }
        if allowed.contains(git2::CredentialType::SSH_KEY) {
            return git2::Cred::ssh_key_from_agent(username.unwrap_or("git"));
        }
        if allowed.contains(git2::CredentialType::USER_PASS_PLAINTEXT) {
            if let Some(config) = &config {
                return git2::Cred::credential_helper(config, url, username);
            }
        }
        git2::Cred::default()
    });
    callbacks
}

/// Why a push did not land.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PushError {
    /// The remote refused to update a ref (a non-fast-forward, a protected ref).
    #[error("the remote refused the push: {0}")]
    Rejected(String),
    #[error(transparent)]
    Other(#[from] Diagnostic),
}

/// Pushes `refspec` (`src:dst`, no `+`: a non-fast-forward is refused) to `remote`, a remote's
/// name or a URL.
pub(crate) fn push(repo: &Repository, remote: &str, refspec: &str) -> Result<(), PushError> {
    let mut remote = self::remote(repo, remote)?;
    let rejected = std::cell::RefCell::new(Vec::new());
    let mut callbacks = callbacks(repo);
    callbacks.push_update_reference(|name, status| {
        if let Some(why) = status {
            rejected.borrow_mut().push(format!("{name}: {why}"));
        }
        Ok(())
    });
    {
        let mut options = git2::PushOptions::new();
        options.remote_callbacks(callbacks);
        // Local remotes refuse a non-fast-forward with an error, network ones with a status.
        remote
            .push(&[refspec], Some(&mut options))
            .map_err(|e| match e.code() {
                git2::ErrorCode::NotFastForward => PushError::Rejected(e.message().to_owned()),
                _ => PushError::Other(Diagnostic::from(e)),
            })?;
    }
    let rejected = rejected.into_inner();
    if rejected.is_empty() {
        Ok(())
    } else {
        Err(PushError::Rejected(rejected.join("; ")))
    }
}

/// Fetches `refspec` from `remote` (a remote's name or a URL). A source ref the remote does not
/// have is not an error: nothing is fetched.
pub(crate) fn fetch(repo: &Repository, remote: &str, refspec: &str) -> Result<()> {
    let mut remote = self::remote(repo, remote)?;
    let mut options = git2::FetchOptions::new();
    options.remote_callbacks(callbacks(repo));
    options.download_tags(git2::AutotagOption::None);
    remote
        .fetch(&[refspec], Some(&mut options), None)
        .doing(|| format!("cannot fetch {refspec}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authors_are_name_and_email() {
        assert_eq!(
            parse_author("Nightly Backup <ops@example.com>"),
            Some(("Nightly Backup", "ops@example.com"))
        );
        for bad in ["ops@example.com", "Name <>", "<a@b>", "Name <a@b"] {
            assert_eq!(parse_author(bad), None, "{bad}");
        }
    }

    #[test]
    fn branch_names_are_checked_as_git_does() {
        for good in ["backups/prod", "backups/local", "main", "a-b_c.d"] {
            assert!(check_branch_name(good).is_ok(), "{good}");
        }
        for bad in [
            "HEAD", "-x", "--force", "a..b", "a b", "a~1", "a^", "a:b", "x.lock", "/a", "a/",
            "a//b", "", "@", "a@{1}", ".a", "a/.b",
        ] {
            let e = check_branch_name(bad)
                .err()
                .unwrap_or_else(|| panic!("{bad} passed"))
                .to_string();
            assert!(e.contains("is not a valid branch name"), "{bad}: {e}");
        }
    }

    /// A branch checked out in a linked work tree (`git worktree add`) counts as checked out,
    /// from the main work tree and from the linked one.
    #[test]
    fn branches_checked_out_in_any_work_tree_are_found() {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repository::init(dir.path().join("main")).unwrap();
        let sig = Signature::now("t", "t@example.com").unwrap();
        let tree = repo
            .find_tree(repo.index().unwrap().write_tree().unwrap())
            .unwrap();
        let c = repo
            .commit(Some("HEAD"), &sig, &sig, "m", &tree, &[])
            .unwrap();
        let commit = repo.find_commit(c).unwrap();
        let branch = repo.branch("backups/local", &commit, false).unwrap();
        let mut opts = git2::WorktreeAddOptions::new();
        opts.reference(Some(branch.get()));
        let linked = dir.path().join("linked");
        repo.worktree("linked", &linked, Some(&opts)).unwrap();
        let found = checked_out(&repo, "refs/heads/backups/local");
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0].ends_with("linked") || found[0].ends_with("linked/"),
            "{found:?}"
        );
        let from_linked = Repository::open(&linked).unwrap();
        assert_eq!(
            checked_out(&from_linked, "refs/heads/backups/local").len(),
            1
        );
        let head = repo.head().unwrap().name().unwrap().to_owned();
        let found = checked_out(&from_linked, &head);
        assert_eq!(
            found.len(),
            1,
            "the main work tree, seen from the linked one: {found:?}"
        );
        assert!(checked_out(&repo, "refs/heads/other").is_empty());
        // Its directory gone (not pruned): still checked out.
        std::fs::remove_dir_all(&linked).unwrap();
        assert_eq!(checked_out(&repo, "refs/heads/backups/local").len(), 1);
    }

    #[test]
    fn commits_swap_the_ref() {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repository::init(dir.path()).unwrap();
        let files = vec![("a.yaml".to_string(), "a\n".to_string())];
        let (hashed, objects) = pack::objects_of(&files).unwrap();
        let mut packs = pack::PackBuilder::default();
        packs.add(objects);
        packs.flush(&repo).unwrap();
        let tree = repo.find_tree(hashed.root).unwrap();
        let first = commit_on(&repo, "refs/heads/b", None, tree.id(), "one").unwrap();
        // A second writer that read no parent loses the race.
        assert!(commit_on(&repo, "refs/heads/b", None, tree.id(), "two").is_err());
        let parent = repo.find_commit(first).unwrap();
        commit_on(&repo, "refs/heads/b", Some(&parent), tree.id(), "two").unwrap();
        assert!(repo.head().is_err(), "HEAD is untouched (unborn)");
    }
}

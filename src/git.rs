//! Writing to git without a checkout: trees from files, commits on a ref by compare-and-swap,
//! and who the author is.

pub mod pack;

use anyhow::{anyhow, Context, Result};
use git2::{Oid, Repository, Signature};

/// The author and committer of promote's commits: `PROMOTE_GIT_AUTHOR` (`Name <email>`), else
/// git's `user.name` and `user.email`, else `promote <promote@localhost>`.
pub fn signature(repo: &Repository) -> Result<Signature<'static>> {
    if let Ok(author) = std::env::var("PROMOTE_GIT_AUTHOR") {
        let (name, email) = parse_author(&author).ok_or_else(|| {
            anyhow!("PROMOTE_GIT_AUTHOR is `{author}`; write it as `Name <email>`")
        })?;
        return Ok(Signature::now(name, email)?);
    }
    repo.signature()
        .map(|s| s.to_owned())
        .or_else(|_| Signature::now("promote", "promote@localhost"))
        .context("cannot make a commit signature")
}

fn parse_author(text: &str) -> Option<(&str, &str)> {
    let (name, rest) = text.split_once('<')?;
    let email = rest.strip_suffix('>')?.trim();
    let name = name.trim();
    (!name.is_empty() && !email.is_empty() && !email.contains(['<', '>'])).then_some((name, email))
}

/// Writes `files` (`/`-separated paths, sorted or not) as blobs and nested trees; returns the
/// root tree. Paths must be relative, without empty, `.` or `..` parts.
pub fn tree_of_files(repo: &Repository, files: &[(String, String)]) -> Result<Oid> {
    let mut entries: Vec<(Vec<&str>, Oid)> = Vec::with_capacity(files.len());
    for (path, text) in files {
        let parts: Vec<&str> = path.split('/').collect();
        if parts
            .iter()
            .any(|p| p.is_empty() || *p == "." || *p == "..")
        {
            return Err(anyhow!("`{path}` is not a path inside a tree"));
        }
        entries.push((parts, repo.blob(text.as_bytes())?));
    }
    entries.sort();
    write_level(repo, &entries, 0)
}

fn write_level(repo: &Repository, entries: &[(Vec<&str>, Oid)], depth: usize) -> Result<Oid> {
    let mut builder = repo.treebuilder(None)?;
    let mut i = 0;
    while i < entries.len() {
        let name = entries[i].0[depth];
        if entries[i].0.len() == depth + 1 {
            builder.insert(name, entries[i].1, 0o100644)?;
            i += 1;
            continue;
        }
        let end = entries[i..]
            .iter()
            .position(|(parts, _)| parts.len() == depth + 1 || parts[depth] != name)
            .map_or(entries.len(), |n| i + n);
        let sub = write_level(repo, &entries[i..end], depth + 1)?;
        builder.insert(name, sub, 0o040000)?;
        i = end;
    }
    Ok(builder.write()?)
}

/// Commits `tree` on `refname` with `parent` (what the ref pointed at when it was read) and
/// moves the ref by compare-and-swap: if another run moved it meanwhile, nothing is changed and
/// the error says so. Never touches HEAD, the index or the work tree.
pub fn commit_on(
    repo: &Repository,
    refname: &str,
    parent: Option<&git2::Commit<'_>>,
    tree: Oid,
    message: &str,
) -> Result<Oid> {
    let tree = repo.find_tree(tree)?;
    let signature = signature(repo)?;
    let parents: Vec<&git2::Commit> = parent.into_iter().collect();
    let commit = repo.commit(None, &signature, &signature, message, &tree, &parents)?;
    let log = message.lines().next().unwrap_or_default();
    let moved = match parent {
        Some(p) => repo.reference_matching(refname, commit, true, p.id(), log),
        None => repo.reference(refname, commit, false, log),
    };
    moved.with_context(|| {
        format!("{refname} moved while this run was writing (another run at the same time?); run it again")
    })?;
    Ok(commit)
}

/// The commit `refname` points at, if it exists.
pub fn head_of<'r>(repo: &'r Repository, refname: &str) -> Result<Option<git2::Commit<'r>>> {
    match repo.find_reference(refname) {
        Ok(r) => {
            Ok(Some(r.peel_to_commit().with_context(|| {
                format!("{refname} does not point at a commit")
            })?))
        }
        Err(e) if e.code() == git2::ErrorCode::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("cannot read {refname}")),
    }
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
    fn trees_nest_and_commits_swap_the_ref() {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repository::init(dir.path()).unwrap();
        let files = vec![
            ("b/c/d.yaml".to_string(), "d\n".to_string()),
            ("a.yaml".to_string(), "a\n".to_string()),
            ("b/e.yaml".to_string(), "e\n".to_string()),
            ("b/c.yaml".to_string(), "c\n".to_string()),
        ];
        let tree = repo
            .find_tree(tree_of_files(&repo, &files).unwrap())
            .unwrap();
        for (path, _) in &files {
            assert!(tree.get_path(std::path::Path::new(path)).is_ok(), "{path}");
        }
        assert!(tree_of_files(&repo, &[("../x".into(), String::new())]).is_err());
        let first = commit_on(&repo, "refs/heads/b", None, tree.id(), "one").unwrap();
        // A second writer that read no parent loses the race.
        assert!(commit_on(&repo, "refs/heads/b", None, tree.id(), "two").is_err());
        let parent = repo.find_commit(first).unwrap();
        commit_on(&repo, "refs/heads/b", Some(&parent), tree.id(), "two").unwrap();
        assert!(repo.head().is_err(), "HEAD is untouched (unborn)");
    }
}

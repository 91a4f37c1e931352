//! The history of applies: which source commit reached which environment, read from the state
//! commits of [`REF`].
//!
//! Each state commit's message ends with git trailers that name its environment and the full
//! source commit; the first line stays readable for `git log --oneline`:
//!
//! ```text
//! apply prod: 1 tenant(s) changed from 0123456789ab
//!
//! acme (acme-prod): +1 ~0 -0
//!
//! Promote-Environment: prod
//! Promote-Source: 0123456789abcdef0123456789abcdef01234567
//! ```
//!
//! `ci` reads the trailers ([`recorded_source`]), never the abbreviation of the first line.
//! Commits written before the trailers existed (a first line `... from <12 hex>` and nothing
//! after the tenant lines) are read through the records they hold: see `legacy_source`.

use std::path::Path;

use git2::{Commit, Oid, Repository};

use super::{open, REF};
use crate::diagnostic::Result;

/// The trailer naming the environment of an apply.
pub(crate) const ENVIRONMENT_TRAILER: &str = "Promote-Environment";
/// The trailer naming the full source commit of an apply.
pub(crate) const SOURCE_TRAILER: &str = "Promote-Source";

/// How many characters of the source commit the first line shows.
const SHORT: usize = 12;

/// Returns the message of an apply's state commit: `apply <env>: N tenant(s) changed from
/// <source, abbreviated>`, one line per tenant changed, one per tenant `recorded` with nothing
/// sent (the platform already held it), then the trailers [`apply`] reads back.
pub fn message(env: &str, changed: &[String], recorded: &[String], source: Option<&str>) -> String {
    let mut text = format!("apply {env}: {} tenant(s) changed", changed.len());
    if let Some(s) = source {
        text.push_str(&format!(" from {}", &s[..s.len().min(SHORT)]));
    }
    text.push_str("\n\n");
    for line in changed.iter().chain(recorded) {
        text.push_str(line);
        text.push('\n');
    }
    // A line of the tenants cannot pass for a trailer: the trailers are the last paragraph.
    if !changed.is_empty() || !recorded.is_empty() {
        text.push('\n');
    }
    text.push_str(&format!("{ENVIRONMENT_TRAILER}: {env}\n"));
    if let Some(id) = source.and_then(full_id) {
        text.push_str(&format!("{SOURCE_TRAILER}: {id}\n"));
    }
    text
}

/// What a state commit's trailers say about the apply it records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Apply {
    /// The environment applied to.
    pub env: String,
    /// The commit of the configuration repository applied, when it was known.
    pub source: Option<Oid>,
}

/// Returns what the trailers of a state commit's `message` say, or `None` when it has no
/// [`ENVIRONMENT_TRAILER`] (a commit written before the trailers existed).
pub(crate) fn apply(message: &str) -> Option<Apply> {
    let body = message.trim_end_matches('\n');
    let last = body.rsplit_once("\n\n").map_or(body, |(_, last)| last);
    let mut env = None;
    let mut source = None;
    for line in last.lines() {
        let (key, value) = line.split_once(": ")?;
        match key {
            ENVIRONMENT_TRAILER => env = Some(value.to_owned()),
            SOURCE_TRAILER => source = Some(full_id(value)?),
            _ => {}
        }
    }
    Some(Apply { env: env?, source })
}

/// A recorded source commit as messages show it: its first 12 hexadecimal digits, or a word
/// for a record whose source is not a commit ID (the ref is anyone's to write).
pub(crate) fn short_source(source: &str) -> String {
    if !source.is_empty() && source.bytes().all(|b| b.is_ascii_hexdigit()) {
        source[..source.len().min(SHORT)].to_owned()
    } else {
        "an unreadable commit".to_owned()
    }
}

/// `text` as a full object ID (40 hexadecimal digits), or `None`.
fn full_id(text: &str) -> Option<Oid> {
    let hex = text.len() == 40 && text.bytes().all(|b| b.is_ascii_hexdigit());
    hex.then(|| Oid::from_str(text).ok()).flatten()
}

/// Hands `each` the source commit of every apply recorded for `env`, newest first, while it
/// returns `true`.
fn walk(git: &Repository, env: &str, mut each: impl FnMut(Oid) -> bool) -> Result<()> {
    let Ok(start) = git.refname_to_id(REF) else {
        return Ok(());
    };
    let mut walk = git.revwalk()?;
    walk.push(start)?;
    for id in walk {
        let commit = git.find_commit(id?)?;
        let source = match commit.message().ok().and_then(apply) {
            Some(recorded) if recorded.env == env => recorded.source,
            Some(_) => None,
            None => legacy_abbreviation(commit.summary().ok().flatten().unwrap_or_default(), env)
                .and_then(|short| legacy_source(git, &commit, env, short)),
        };
        if let Some(source) = source {
            if !each(source) {
                break;
            }
        }
    }
    Ok(())
}

/// Returns the source commits of the applies recorded for `env`, newest first (a commit applied
/// twice is named twice).
#[cfg(test)]
fn sources(git: &Repository, env: &str) -> Result<Vec<Oid>> {
    let mut out = Vec::new();
    walk(git, env, |source| {
        out.push(source);
        true
    })?;
    Ok(out)
}

/// Returns whether the last apply recorded for `env` in the repository at `repo` was of
/// `source` (a full commit ID).
pub fn recorded_source(repo: &Path, env: &str, source: &str) -> bool {
    let (Ok(git), Some(source)) = (open(repo), full_id(source)) else {
        return false;
    };
    let mut last = None;
    let walked = walk(&git, env, |s| {
        last = Some(s);
        false
    });
    walked.is_ok() && last == Some(source)
}

/// The abbreviated source commit on the first line of a state commit written before the
/// trailers existed: `apply <env>: N tenant(s) changed from <12 hex>`.
fn legacy_abbreviation<'a>(summary: &'a str, env: &str) -> Option<&'a str> {
    let rest = summary
        .strip_prefix("apply ")?
        .strip_prefix(env)?
        .strip_prefix(": ")?;
    let (_, short) = rest.rsplit_once(" from ")?;
    let short = short.trim();
    (short.len() >= 4 && short.bytes().all(|b| b.is_ascii_hexdigit())).then_some(short)
}

/// The full source commit of a state `commit` written before the trailers existed, whose first
/// line names it by `short`: the `source_commit` of a record that commit wrote for `env`. A
/// commit that wrote no record (an apply that changed nothing) leaves only the abbreviation,
/// which is then looked up in the repository.
fn legacy_source(git: &Repository, commit: &Commit, env: &str, short: &str) -> Option<Oid> {
    let written = written_records(git, commit, env).unwrap_or_default();
    let from_records = written.into_iter().find_map(|blob| {
        let blob = git.find_blob(blob).ok()?;
        let record: serde_json::Value = serde_json::from_slice(blob.content()).ok()?;
        let source = record.get("source_commit")?.as_str()?;
        full_id(source).filter(|_| source.starts_with(short))
    });
    from_records.or_else(|| {
        git.revparse_single(short)
            .and_then(|o| o.peel_to_commit())
            .ok()
            .map(|c| c.id())
    })
}

/// The record blobs of `env` that `commit` added or changed against its first parent.
fn written_records(git: &Repository, commit: &Commit, env: &str) -> Result<Vec<Oid>> {
    let dir = crate::keys::encode(env)?;
    let records = |c: &Commit| -> Result<Option<git2::Tree<'_>>> {
        match c.tree()?.get_name(&dir) {
            Some(entry) => Ok(Some(entry.to_object(git)?.peel_to_tree()?)),
            None => Ok(None),
        }
    };
    let Some(now) = records(commit)? else {
        return Ok(Vec::new());
    };
    let before = match commit.parent(0) {
        Ok(parent) => records(&parent)?,
        Err(_) => None,
    };
    Ok(now
        .iter()
        .filter(|e| {
            let old = before
                .as_ref()
                .and_then(|b| e.name().ok().and_then(|n| b.get_name(n)));
            old.is_none_or(|old| old.id() != e.id())
        })
        .map(|e| e.id())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{record, AppliedRecord};
    use serde_json::json;

    const SOURCE: &str = "0123456789abcdef0123456789abcdef01234567";

    #[test]
    fn trailers_round_trip_and_the_first_line_stays_readable() {
        let text = message(
            "prod",
            &["acme (acme-prod): +1 ~0 -0".into()],
            &[],
            Some(SOURCE),
        );
        assert_eq!(
            text,
            format!("apply prod: 1 tenant(s) changed from 0123456789ab\n\nacme (acme-prod): +1 ~0 -0\n\nPromote-Environment: prod\nPromote-Source: {SOURCE}\n")
        );
        let read = apply(&text).unwrap();
        assert_eq!(read.env, "prod");
        assert_eq!(read.source, Some(Oid::from_str(SOURCE).unwrap()));
        // Nothing changed, no source known.
        let none = message("dev", &[], &[], None);
        assert_eq!(
            none,
            "apply dev: 0 tenant(s) changed\n\nPromote-Environment: dev\n"
        );
        assert_eq!(
            apply(&none),
            Some(Apply {
                env: "dev".into(),
                source: None
            })
        );
    }

    #[test]
    fn a_tenant_line_cannot_forge_a_trailer() {
        let forged = format!("x\n\n{SOURCE_TRAILER}: {}", "f".repeat(40));
        let text = message("prod", &[forged], &[], Some(SOURCE));
        assert_eq!(
            apply(&text).unwrap().source,
            Some(Oid::from_str(SOURCE).unwrap())
        );
    }

    #[test]
    fn old_messages_have_no_trailers_but_an_abbreviation() {
        let old =
            "apply prod: 1 tenant(s) changed from 0123456789ab\n\nacme (acme-prod): +1 ~0 -0\n";
        assert_eq!(apply(old), None);
        let summary = old.lines().next().unwrap();
        assert_eq!(legacy_abbreviation(summary, "prod"), Some("0123456789ab"));
        assert_eq!(legacy_abbreviation(summary, "pro"), None);
        assert_eq!(
            legacy_abbreviation("apply prod: 0 tenant(s) changed", "prod"),
            None
        );
        assert_eq!(
            legacy_abbreviation("apply prod: 0 tenant(s) changed from HEAD", "prod"),
            None
        );
    }

    /// A repository with one configuration commit; returns it and its ID.
    fn repo_with_a_commit() -> (tempfile::TempDir, Oid) {
        let dir = tempfile::tempdir().unwrap();
        let git = Repository::init(dir.path()).unwrap();
        let tree = git.treebuilder(None).unwrap().write().unwrap();
        let tree = git.find_tree(tree).unwrap();
        let me = git2::Signature::now("t", "t@example.com").unwrap();
        let id = git
            .commit(Some("HEAD"), &me, &me, "config", &tree, &[])
            .unwrap();
        (dir, id)
    }

    fn applied(name: &str, source: Oid) -> AppliedRecord {
        AppliedRecord {
            tree: json!({ "name": name }),
            source: Some(source.to_string()),
        }
    }

    /// The message `state::message` wrote before the trailers existed.
    fn old_message(env: &str, source: Oid) -> String {
        format!(
            "apply {env}: 1 tenant(s) changed from {}\n\nacme: +1 ~0 -0\n",
            &source.to_string()[..12]
        )
    }

    #[test]
    fn new_commits_are_read_through_their_trailers() {
        let (dir, config) = repo_with_a_commit();
        let msg = message("staging", &["acme".into()], &[], Some(&config.to_string()));
        record(
            dir.path(),
            "staging",
            &[("acme".into(), applied("A", config))],
            &msg,
        )
        .unwrap();
        let git = Repository::open(dir.path()).unwrap();
        assert_eq!(sources(&git, "staging").unwrap(), [config]);
        assert!(sources(&git, "prod").unwrap().is_empty());
        assert!(recorded_source(dir.path(), "staging", &config.to_string()));
        assert!(!recorded_source(
            dir.path(),
            "staging",
            &config.to_string()[..12]
        ));
    }

    #[test]
    fn old_commits_are_read_through_their_records() {
        let (dir, config) = repo_with_a_commit();
        // The record holds a source the repository does not have: only the record can say it.
        let elsewhere = Oid::from_str(SOURCE).unwrap();
        record(
            dir.path(),
            "staging",
            &[("acme".into(), applied("A", elsewhere))],
            &old_message("staging", elsewhere),
        )
        .unwrap();
        // An old apply that changed nothing wrote no record: its abbreviation is looked up.
        let git = Repository::open(dir.path()).unwrap();
        let parent = git.find_reference(REF).unwrap().peel_to_commit().unwrap();
        let me = git2::Signature::now("t", "t@example.com").unwrap();
        let unchanged = format!(
            "apply staging: 0 tenant(s) changed from {}\n\n",
            &config.to_string()[..12]
        );
        git.commit(
            Some(REF),
            &me,
            &me,
            &unchanged,
            &parent.tree().unwrap(),
            &[&parent],
        )
        .unwrap();
        assert_eq!(sources(&git, "staging").unwrap(), [config, elsewhere]);
        assert!(recorded_source(dir.path(), "staging", &config.to_string()));
    }
}

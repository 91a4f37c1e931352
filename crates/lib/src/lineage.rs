//! Whether what a tenant last had applied came from the history being applied now.
//!
//! Two people applying from two branches (two worktrees, a branch and `main`) take turns under
//! the environment's lock, and each apply makes the tenant what its own commit says: the second
//! one reverts whatever only the first one's commit had, and its plan shows that as an ordinary
//! change. [`foreign`] finds the tenants whose last-applied record came from a commit that HEAD
//! does not contain, so that plan and apply can say so before anything is written.

use std::collections::BTreeMap;
use std::path::Path;

use git2::{Oid, Repository};

use crate::diagnostic::Diagnostic;
use crate::environment::Tenant;
use crate::state::Snapshot;

/// Tenants whose last apply came from a commit HEAD does not contain, grouped by that commit.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Foreign {
    /// Source commit (full ID as recorded) → the keys of the tenants last applied from it.
    pub by_source: BTreeMap<String, Vec<String>>,
}

impl Foreign {
    /// Whether every tenant's last apply is in HEAD's history (or it has none).
    pub fn is_empty(&self) -> bool {
        self.by_source.is_empty()
    }

    /// The warning to show: one sentence per source commit, naming the tenants (the first ten).
    pub fn warning(&self, env: &str, head: &str) -> String {
        let short = crate::state::short_source;
        let parts: Vec<String> = self
            .by_source
            .iter()
            .map(|(source, keys)| {
                let named: Vec<&str> = keys.iter().take(10).map(String::as_str).collect();
                let more = keys.len().saturating_sub(10);
                format!(
                    "{}{} in `{env}` last took commit {}, which {} does not contain",
                    named.join(", "),
                    if more > 0 {
                        format!(" and {more} more")
                    } else {
                        String::new()
                    },
                    short(source),
                    short(head)
                )
            })
            .collect();
        format!(
            "{}: this applies what {} says, so changes made only in that commit are reverted (merge it, or apply from a branch that has it, if that is not meant)",
            parts.join("; "),
            short(head)
        )
    }
}

/// The tenants among `tenants` of environment `env` whose last-applied record names a source
/// commit that `head` neither is nor descends from (or that this repository does not have).
///
/// # Errors
/// The state cannot be read.
pub fn foreign(
    repo: &Path,
    env: &str,
    tenants: &[&Tenant],
    head: Oid,
) -> Result<Foreign, Diagnostic> {
    let git = Repository::discover(repo)
        .map_err(|e| Diagnostic::new(format!("cannot open the repository: {}", e.message())))?;
    let state = Snapshot::open(repo, env)?;
    let mut out = Foreign::default();
    let mut contained: BTreeMap<String, bool> = BTreeMap::new();
    for t in tenants {
        let Some(source) = state.source(&t.key)? else {
            continue;
        };
        let inside = *contained.entry(source.clone()).or_insert_with(|| {
            Oid::from_str(&source)
                .is_ok_and(|id| id == head || git.graph_descendant_of(head, id).unwrap_or(false))
        });
        if !inside {
            out.by_source.entry(source).or_default().push(t.key.clone());
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn commit(git: &Repository, parent: Option<Oid>, message: &str) -> Oid {
        let me = git2::Signature::now("t", "t@example.com").unwrap();
        let tree = git.treebuilder(None).unwrap().write().unwrap();
        let tree = git.find_tree(tree).unwrap();
        let parents: Vec<git2::Commit> = parent
            .iter()
            .map(|p| git.find_commit(*p).unwrap())
            .collect();
        let parents: Vec<&git2::Commit> = parents.iter().collect();
        git.commit(None, &me, &me, message, &tree, &parents)
            .unwrap()
    }

    fn tenant(key: &str) -> Tenant {
        Tenant {
            key: key.into(),
            id: format!("{key}-1"),
            template: "t".into(),
            vars: Default::default(),
        }
    }

    #[test]
    fn a_last_apply_from_another_branch_is_named_and_one_from_history_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let git = Repository::init(dir.path()).unwrap();
        let base = commit(&git, None, "base");
        let mine = commit(&git, Some(base), "mine");
        let theirs = commit(&git, Some(base), "theirs");
        let record = |key: &str, source: Oid| {
            crate::state::record(
                dir.path(),
                "prod",
                &[(
                    key.into(),
                    crate::state::AppliedRecord {
                        tree: json!({"name": key}),
                        source: Some(source.to_string()),
                    },
                )],
                key,
            )
            .unwrap();
        };
        record("a", base);
        record("b", theirs);
        record("c", mine);
        let (a, b, c, d) = (tenant("a"), tenant("b"), tenant("c"), tenant("d"));
        let found = foreign(dir.path(), "prod", &[&a, &b, &c, &d], mine).unwrap();
        assert_eq!(
            found.by_source,
            [(theirs.to_string(), vec!["b".to_owned()])].into()
        );
        let warning = found.warning("prod", &mine.to_string());
        assert!(
            warning.contains(&format!(
                "b in `prod` last took commit {}, which {} does not contain",
                &theirs.to_string()[..12],
                &mine.to_string()[..12]
            )),
            "{warning}"
        );
        assert!(warning.contains("changes made only in that commit are reverted"));
        // A record's source is anyone's to write: a strange one is shown as such, not sliced.
        assert_eq!(
            crate::state::short_source("ééééééééé"),
            "an unreadable commit"
        );
        assert!(foreign(dir.path(), "prod", &[&a, &c], mine)
            .unwrap()
            .is_empty());
    }
}

//! CI on merge: what a change from one commit to another means for each environment.
//!
//! `promote ci --base REV --head REV` reads both commits from git's object database (no
//! checkout), works out the affected tenants ([`crate::affected`]), orders the environments by
//! their `requires:` gates, and narrows everything to one shard when the fleet is split over
//! several jobs. [`fn@run`] then plans (or applies) exactly those tenants, environment by
//! environment.

mod run;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::Path;
use std::str::FromStr;

use serde::Serialize;

use crate::affected::{self, Affected};
use crate::diagnostic::Diagnostic;
use crate::environment::Environment;
use crate::source::{Origin, RepoFiles};

pub use run::{
    run, Confirmation, EnvOutcome, Error, Host, Json, Markdown, Options, Outcomes, Ran, Sink,
    Start, Status, SummaryFile, Text, Totals,
};

/// One of `count` shards (`index` counts from 1): `--shard 2/4`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl Shard {
    /// Whether tenant `key` belongs to this shard.
    pub(crate) fn holds(&self, key: &str) -> bool {
        affected::in_shard(key, self.index, self.count)
    }
}

impl FromStr for Shard {
    type Err = String;

    fn from_str(s: &str) -> Result<Shard, String> {
        let bad = || format!("`{s}` is not a shard: write K/N with 1 <= K <= N, e.g. 2/4");
        let (k, n) = s.split_once('/').ok_or_else(bad)?;
        let index: usize = k.trim().parse().map_err(|_| bad())?;
        let count: usize = n.trim().parse().map_err(|_| bad())?;
        if index == 0 || count == 0 || index > count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// A change between two commits of the configuration repository.
#[derive(Debug)]
pub(crate) struct Change {
    pub base: RepoFiles,
    pub head: RepoFiles,
    /// The commit `--base` resolved to (`None` for git's all-zero ID: a new branch, everything
    /// is new).
    pub base_commit: Option<git2::Oid>,
    pub head_commit: git2::Oid,
    /// The tenants the change affects: found by [`fn@run`] once head's templates are compiled,
    /// from their dependency graph (head is not parsed a second time for it).
    pub affected: Affected,
}

/// Git's ID for "no commit", which CI systems pass as the base of a branch's first push.
fn is_zero(rev: &str) -> bool {
    rev.len() >= 7 && rev.bytes().all(|b| b == b'0')
}

/// Checks that `rev` names a commit of the repository at `repo`, and says what CI checkouts
/// often lack when it does not. Outside a git repository it passes: reading the revision then
/// says where the repository is missing.
fn check_resolves(repo: &Path, rev: &str) -> Result<(), Vec<Diagnostic>> {
    let Ok(git) = git2::Repository::discover(repo) else {
        return Ok(());
    };
    crate::source::resolve(&git, rev).map(drop).map_err(|unresolved| {
        vec![Diagnostic::from(unresolved).hint("CI checkouts are often shallow: fetch the history (actions/checkout with fetch-depth: 0, GIT_DEPTH: 0 on GitLab) or at least the base commit")]
    })
}

/// Reads `base` and `head` of the repository at `repo`; what changed for which tenants is
/// found later ([`Change::affected`]).
pub(crate) fn read(repo: &Path, base: &str, head: &str) -> Result<Change, Vec<Diagnostic>> {
    check_resolves(repo, head)?;
    let head_files = RepoFiles::from_revision(repo, head)?;
    let (base_files, base_commit) = if is_zero(base) {
        (
            RepoFiles {
                templates: BTreeMap::new(),
                environments: BTreeMap::new(),
                origin: Origin::Revision {
                    rev: base.to_owned(),
                    commit: base.to_owned(),
                },
                parsed: Default::default(),
            },
            None,
        )
    } else {
        check_resolves(repo, base)?;
        let files = RepoFiles::from_revision(repo, base)?;
        let id = commit_of(&files);
        (files, id)
    };
    let head_commit = commit_of(&head_files).ok_or_else(|| {
        vec![Diagnostic::new(format!(
            "cannot resolve git revision `{head}`"
        ))]
    })?;
    Ok(Change {
        base: base_files,
        head: head_files,
        base_commit,
        head_commit,
        affected: Affected::default(),
    })
}

/// Makes `env`, read from the change's head, connect where the base commit says. A plan of a
/// change that is not merged yet (a pull request) runs with the CI's credentials, and the
/// change's own environment file is not trusted to say where they go: a changed `target.url`
/// (or `client_secret_env`, `token_hosts`, `ca_file`) would send the platform's client secret
/// to a host nobody reviewed. So the target is the base commit's, and a new target takes effect
/// once merged. Returns a note when the change's target differs; an environment the base does
/// not have is planned only when its target is the embedded emulator in the repository's
/// `.promote/` (no credentials, no file written elsewhere).
pub(crate) fn trust_base_target(
    repo: &Path,
    change: &Change,
    env: &mut Environment,
) -> Result<Option<String>, Diagnostic> {
    let differs = |a: &crate::environment::Target, b: &crate::environment::Target| {
        serde_json::to_value(a).ok() != serde_json::to_value(b).ok()
    };
    if !change.base.environments.contains_key(&env.name) {
        let in_repository = env
            .file
            .target
            .emulator
            .as_deref()
            .is_some_and(|d| !std::path::Path::new(d).is_absolute());
        if in_repository {
            return Ok(None);
        }
        return Err(Diagnostic::new(format!(
            "{} is new in this change: its platform is not planned before the change is merged, because its target (where the CI's credentials would be sent) has not been reviewed",
            env.path
        ))
        .context(&env.name, None)
        .hint("merge the environment file first (then `promote ci --apply` on the merge uses it), or leave this environment out with --env"));
    }
    // A copy: its target is given the base commit's CA file.
    let base = change.base.environment(&env.name)?;
    let mut base = Environment::clone(&base);
    // The CA file too is the base commit's: the work tree holds the pull request's.
    if let (Some(file), Some(commit)) = (&base.file.target.ca_file, change.base_commit) {
        let pem = blob_at(repo, commit, file).map_err(|e| {
            Diagnostic::new(format!("target.ca_file {file} at the base commit: {e}"))
                .at(base.locate(&["target", "ca_file"]))
                .context(&env.name, None)
        })?;
        base.file.target.ca_pem = Some(pem);
    }
    let changed = differs(&base.file.target, &env.file.target);
    env.file.target = base.file.target;
    if !changed {
        return Ok(None);
    }
    Ok(Some(format!(
        "{}: this change sets a new target; it is planned against the target of the base commit, and the new one is used once the change is merged",
        env.path
    )))
}

/// The bytes of the regular file `path` (relative to the configuration repository `repo`) at
/// `commit`.
fn blob_at(repo: &Path, commit: git2::Oid, path: &str) -> Result<Vec<u8>, String> {
    let git = git2::Repository::discover(repo).map_err(|e| e.message().to_owned())?;
    let tree = git
        .find_commit(commit)
        .and_then(|c| c.tree())
        .map_err(|e| e.message().to_owned())?;
    let entry = tree
        .get_path(&crate::source::repo_prefix(&git, repo).join(path))
        .map_err(|_| "no such file in that commit".to_owned())?;
    if entry.filemode() != i32::from(git2::FileMode::Blob)
        && entry.filemode() != i32::from(git2::FileMode::BlobExecutable)
    {
        return Err("not a regular file (a symlink or a directory)".to_owned());
    }
    let blob = git
        .find_blob(entry.id())
        .map_err(|e| e.message().to_owned())?;
    if blob.size() as u64 > crate::files::MAX_INPUT_FILE {
        return Err(crate::files::too_large(blob.size() as u64));
    }
    Ok(blob.content().to_vec())
}

fn commit_of(files: &RepoFiles) -> Option<git2::Oid> {
    match &files.origin {
        Origin::Revision { commit, .. } => git2::Oid::from_str(commit).ok(),
        Origin::WorkTree => None,
    }
}

/// The names of the environments to run: `selected` without repeats, or every environment of
/// `head` (by name) when none is.
pub(crate) fn names(head: &RepoFiles, selected: &[String]) -> Vec<String> {
    if selected.is_empty() {
        return head.environments.keys().cloned().collect();
    }
    let mut seen = BTreeSet::new();
    selected
        .iter()
        .filter(|n| seen.insert(n.as_str()))
        .cloned()
        .collect()
}

/// `envs` in promotion order: each after the environment it `requires:` when both are run,
/// otherwise in the order given. A cycle of `requires:` is an error.
pub(crate) fn order<T>(
    mut waiting: Vec<T>,
    env: impl Fn(&T) -> &Environment,
) -> Result<Vec<T>, Diagnostic> {
    let mut out = Vec::with_capacity(waiting.len());
    while !waiting.is_empty() {
        // The first environment whose required one is not still waiting goes next.
        let ready = waiting.iter().position(|item| {
            env(item)
                .file
                .requires
                .as_deref()
                .is_none_or(|r| !waiting.iter().any(|w| env(w).name == r))
        });
        let Some(i) = ready else {
            let cycle: Vec<&str> = waiting.iter().map(|w| env(w).name.as_str()).collect();
            return Err(Diagnostic::new(format!(
                "the `requires:` gates of {} form a cycle: no environment can go first",
                cycle.join(", ")
            ))
            .hint("each environment may require one that comes before it, e.g. dev <- staging <- prod"));
        };
        out.push(waiting.remove(i));
    }
    Ok(out)
}

/// The tenants of `env` to run: those the change affects, in `shard` when given.
pub(crate) fn selection(affected: &Affected, env: &str, shard: Option<Shard>) -> Vec<String> {
    pick(affected.tenants.get(env), shard)
}

/// The tenants of `env` the change removed, in `shard` when given.
pub(crate) fn removed(affected: &Affected, env: &str, shard: Option<Shard>) -> Vec<String> {
    pick(affected.removed.get(env), shard)
}

fn pick(keys: Option<&BTreeSet<String>>, shard: Option<Shard>) -> Vec<String> {
    keys.into_iter()
        .flatten()
        .filter(|k| shard.is_none_or(|s| s.holds(k)))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn files(envs: &[(&str, &str)]) -> RepoFiles {
        RepoFiles {
            templates: [("a/tenant.yaml".to_owned(), "name: a\n".to_owned())].into(),
            environments: envs
                .iter()
                .map(|(n, t)| (n.to_string(), t.to_string()))
                .collect(),
            origin: Origin::WorkTree,
            parsed: Default::default(),
        }
    }

    fn env(requires: Option<&str>) -> String {
        let mut text = "target:\n  url: https://x.test\n".to_owned();
        if let Some(r) = requires {
            text.push_str(&format!("requires: {r}\n"));
        }
        text
    }

    #[test]
    fn shards_parse_and_refuse_nonsense() {
        assert_eq!("2/4".parse(), Ok(Shard { index: 2, count: 4 }));
        for bad in ["0/4", "5/4", "1/0", "x/2", "2", "1/2/3", ""] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
    }

    fn ordered(f: &RepoFiles, selected: &[&str]) -> Result<Vec<String>, Diagnostic> {
        let selected: Vec<String> = selected.iter().map(|s| s.to_string()).collect();
        let envs: Vec<Environment> = names(f, &selected)
            .iter()
            .map(|n| Environment::clone(&f.environment(n).unwrap()))
            .collect();
        Ok(order(envs, |e| e)?.into_iter().map(|e| e.name).collect())
    }

    #[test]
    fn environments_follow_their_gates() {
        let f = files(&[
            ("prod", &env(Some("staging"))),
            ("staging", &env(Some("dev"))),
            ("dev", &env(None)),
            ("local", &env(None)),
        ]);
        assert_eq!(
            ordered(&f, &[]).unwrap(),
            ["dev", "local", "staging", "prod"]
        );
        assert_eq!(
            ordered(&f, &["prod", "local", "staging"]).unwrap(),
            ["local", "staging", "prod"]
        );
        assert_eq!(ordered(&f, &["prod", "prod"]).unwrap(), ["prod"]);
    }

    #[test]
    fn a_cycle_of_gates_is_an_error() {
        let f = files(&[("a", &env(Some("b"))), ("b", &env(Some("a")))]);
        let e = ordered(&f, &[]).unwrap_err();
        assert!(e.message.contains("cycle"), "{e}");
    }

    proptest! {
        /// Every affected tenant is run by exactly one shard, and the shards together run
        /// exactly the affected set.
        #[test]
        fn shards_partition_the_selection(keys in prop::collection::btree_set("[a-z0-9._-]{1,16}", 0..80), n in 1usize..12) {
            let affected = Affected {
                tenants: [("prod".to_owned(), keys.clone())].into(),
                ..Affected::default()
            };
            let mut all = Vec::new();
            for index in 1..=n {
                all.extend(selection(&affected, "prod", Some(Shard { index, count: n })));
            }
            all.sort();
            let expected: Vec<String> = keys.into_iter().collect();
            prop_assert_eq!(all, expected);
        }
    }
}

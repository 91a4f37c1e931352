//! The last-applied state: what promote last applied to each tenant, kept in git.
//!
//! The ref `refs/promote/state` points at a chain of commits, one per apply, written with git2
//! straight into the object database (no checkout, no index, the work tree is never touched).
//! Each commit's tree holds `<env>/<tenant>.json`: the rendered tree that was applied, with
//! credentials removed, and the source commit it was rendered from; the commit's message names
//! the environment and the source in trailers ([`history`]). Reading it needs no
//! network, and `git log refs/promote/state` is the history of every apply.
//!
//! Files are written deterministically (sorted keys, two-space indent, trailing newline), so an
//! apply that changes nothing adds no commit. The ref moves by compare-and-swap: two applies
//! racing on one repository cannot silently drop each other's record.

pub(crate) mod history;
pub(crate) mod sync;

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{json, Value};

use crate::credentials::{self, Scope};
use crate::diagnostic::{Diagnostic, Doing, Result};
use crate::keys;

pub(crate) use history::short_source;
pub use history::{message, recorded_source};

/// The ref holding the state.
pub(crate) const REF: &str = "refs/promote/state";

/// What was applied to one tenant.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct AppliedRecord {
    /// The tenant tree, without credentials.
    pub tree: Value,
    /// The commit of the configuration repository it was rendered from, if known.
    pub source: Option<String>,
}

/// A record ready to store: the JSON text of an [`AppliedRecord`], credentials removed. Compact
/// beside the tree it came from, so records waiting to be stored cost little memory.
#[derive(Debug, Clone, PartialEq)]
pub struct Encoded(Vec<u8>);

impl Encoded {
    /// The record's JSON text.
    #[cfg(test)]
    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl AppliedRecord {
    /// Encodes the record, consuming it (a fleet's trees are not copied).
    pub(crate) fn encode(self) -> Encoded {
        let mut tree = self.tree;
        credentials::strip(&mut tree, Scope::Tenant);
        let doc = json!({"source_commit": self.source, "tree": tree});
        let mut bytes = serde_json::to_vec_pretty(&doc).unwrap_or_default();
        bytes.push(b'\n');
        Encoded(bytes)
    }

    fn from_json(text: &[u8], name: &str) -> Result<AppliedRecord> {
        let mut doc: Value = serde_json::from_slice(text)
            .doing(|| format!("{REF}:{name} is not JSON; restore the ref from a backup"))?;
        Ok(AppliedRecord {
            tree: doc
                .as_object_mut()
                .and_then(|d| d.remove("tree"))
                .unwrap_or(Value::Null),
            source: doc
                .get("source_commit")
                .and_then(Value::as_str)
                .map(str::to_owned),
        })
    }
}

fn open(repo: &Path) -> Result<git2::Repository> {
    git2::Repository::discover(repo).map_err(|e| {
        Diagnostic::new(format!(
            "{} is not in a git repository ({}); the last-applied state lives in git",
            repo.display(),
            e.message()
        ))
    })
}

/// The state of one environment as of when it was opened: which tenants have a record, read
/// one at a time when asked (a fleet's records do not all sit in memory at once).
pub struct Snapshot {
    repo: std::sync::Mutex<git2::Repository>,
    blobs: BTreeMap<String, (git2::Oid, String)>,
}

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshot")
            .field("tenants", &self.blobs.len())
            .finish()
    }
}

impl Snapshot {
    /// Opens the state of `env` (empty when there is none yet).
    pub(crate) fn open(repo: &Path, env: &str) -> Result<Snapshot> {
        let git = open(repo)?;
        let blobs = records(&git, env)?;
        tracing::info!(
            "state: read {} last-applied record(s) of `{env}` from {REF}",
            blobs.len()
        );
        Ok(Snapshot {
            repo: std::sync::Mutex::new(git),
            blobs,
        })
    }

    /// What was last applied to tenant `key`, if anything.
    pub(crate) fn get(&self, key: &str) -> Result<Option<AppliedRecord>> {
        self.with_record(key, AppliedRecord::from_json)
    }

    /// The source commit of what was last applied to tenant `key`, if it has a record that
    /// names one (the record's tree is skipped, not built).
    pub(crate) fn source(&self, key: &str) -> Result<Option<String>> {
        #[derive(serde::Deserialize)]
        struct Source {
            source_commit: Option<String>,
        }
        let source = self.with_record(key, |bytes, name| {
            serde_json::from_slice::<Source>(bytes)
                .doing(|| format!("{REF}:{name} is not JSON; restore the ref from a backup"))
        })?;
        Ok(source.and_then(|s| s.source_commit))
    }

    /// `read` of the bytes of tenant `key`'s record and its name in the state, if it has one.
    fn with_record<T>(
        &self,
        key: &str,
        read: impl FnOnce(&[u8], &str) -> Result<T>,
    ) -> Result<Option<T>> {
        let Some((oid, name)) = self.blobs.get(key) else {
            return Ok(None);
        };
        // Copied out, so that the repository is not held while the record is parsed: apply
        // plans tenants in parallel.
        let bytes = {
            let git = self
                .repo
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let blob = git
                .find_blob(*oid)
                .doing(|| format!("{REF}:{name} is not a file"))?;
            blob.content().to_vec()
        };
        read(&bytes, name).map(Some)
    }

    /// Every record each of `keys` had through the state's history, newest first, each
    /// distinct record once (read them with [`Snapshot::read`]): what was applied to the
    /// tenant over time, the last one first.
    pub(crate) fn history(
        &self,
        env: &str,
        keys: &std::collections::BTreeSet<&str>,
    ) -> Result<BTreeMap<String, Vec<git2::Oid>>> {
        let git = self
            .repo
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut out: BTreeMap<String, Vec<git2::Oid>> = BTreeMap::new();
        let Ok(start) = git.refname_to_id(REF) else {
            return Ok(out);
        };
        let env_dir = keys::encode(env)?;
        let files: Vec<(&str, String)> = keys
            .iter()
            .map(|k| Ok((*k, format!("{}.json", keys::encode(k)?))))
            .collect::<Result<_>>()?;
        let mut walk = git.revwalk().doing(|| format!("cannot read {REF}"))?;
        walk.push(start).doing(|| format!("cannot read {REF}"))?;
        let mut seen_dirs = std::collections::HashSet::new();
        for id in walk {
            let commit = id
                .and_then(|id| git.find_commit(id))
                .doing(|| format!("cannot read {REF}"))?;
            let tree = commit.tree().doing(|| format!("cannot read {REF}"))?;
            let Some(dir) = tree.get_name(&env_dir) else {
                continue;
            };
            // The environment's records often stay the same from one commit to the next.
            if !seen_dirs.insert(dir.id()) {
                continue;
            }
            let Ok(dir) = git.find_tree(dir.id()) else {
                continue;
            };
            for (key, file) in &files {
                if let Some(entry) = dir.get_name(file) {
                    let versions = out.entry((*key).to_owned()).or_default();
                    if !versions.contains(&entry.id()) {
                        versions.push(entry.id());
                    }
                }
            }
        }
        Ok(out)
    }

    /// The record held by blob `id` (one of [`Snapshot::history`]'s).
    pub(crate) fn read(&self, id: git2::Oid, key: &str) -> Result<AppliedRecord> {
        let git = self
            .repo
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let blob = git
            .find_blob(id)
            .doing(|| format!("{REF}: the record {id} of {key} is not a file"))?;
        AppliedRecord::from_json(blob.content(), key)
    }

    /// The tenant keys with a record.
    #[cfg(test)]
    pub(crate) fn keys(&self) -> impl Iterator<Item = &String> {
        self.blobs.keys()
    }
}

/// The record blob of each tenant key of `env`, with its name in the state for messages.
fn records(git: &git2::Repository, env: &str) -> Result<BTreeMap<String, (git2::Oid, String)>> {
    let mut blobs = BTreeMap::new();
    let Ok(reference) = git.find_reference(REF) else {
        return Ok(blobs);
    };
    let tree = reference
        .peel_to_tree()
        .doing(|| format!("{REF} does not point at a commit"))?;
    let env_dir = keys::encode(env)?;
    let Some(entry) = tree.get_name(&env_dir) else {
        return Ok(blobs);
    };
    let sub = entry
        .to_object(git)
        .and_then(|o| o.peel_to_tree())
        .doing(|| format!("{REF}:{env_dir} is not a directory"))?;
    for e in sub.iter() {
        let Ok(name) = e.name() else { continue };
        let Some(stem) = name.strip_suffix(".json") else {
            continue;
        };
        let Ok(key) = keys::decode(stem) else {
            continue;
        };
        blobs.insert(key, (e.id(), format!("{env_dir}/{name}")));
    }
    Ok(blobs)
}

/// Reads what was last applied to every tenant of `env` (none when there is no state yet).
#[cfg(test)]
pub(crate) fn read(repo: &Path, env: &str) -> Result<BTreeMap<String, AppliedRecord>> {
    let snapshot = Snapshot::open(repo, env)?;
    let mut out = BTreeMap::new();
    for key in snapshot.keys() {
        if let Some(a) = snapshot.get(key)? {
            out.insert(key.clone(), a);
        }
    }
    Ok(out)
}

/// Records what was applied, tenant by tenant as an apply goes (each record goes to the object
/// database at once, so a fleet's records are never all in memory), then as one commit.
pub(crate) struct Recorder {
    repo: git2::Repository,
    dir: String,
    files: Vec<(String, git2::Oid)>,
    forgotten: Vec<String>,
}

impl Recorder {
    pub(crate) fn new(repo: &Path, env: &str) -> Result<Recorder> {
        Ok(Recorder {
            repo: open(repo)?,
            dir: keys::encode(env)?,
            files: Vec::new(),
            forgotten: Vec::new(),
        })
    }

    /// Stores the record of tenant `key`.
    pub(crate) fn add(&mut self, key: &str, record: &Encoded) -> Result<()> {
        let file = format!("{}.json", keys::encode(key)?);
        let blob = self.repo.blob(&record.0)?;
        self.files.push((file, blob));
        Ok(())
    }

    /// Removes the record of tenant `key`: promote no longer manages it.
    pub(crate) fn forget(&mut self, key: &str) -> Result<()> {
        self.forgotten.push(format!("{}.json", keys::encode(key)?));
        Ok(())
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.files.is_empty() && self.forgotten.is_empty()
    }

    /// Commits the records on [`REF`] with `message`; `None` when nothing changed, unless
    /// `even_unchanged` (a commit with its parent's tree then records that the apply happened).
    ///
    /// What reached the platform is recorded whatever other runs do: when another run (another
    /// environment's apply, a backup, a job's pull) moved the ref meanwhile or is moving it right
    /// now, this run's records are put again on the new tip and the swap is tried again. Only
    /// this recorder's own files change; every other record is the new tip's.
    pub(crate) fn commit(self, message: &str, even_unchanged: bool) -> Result<Option<git2::Oid>> {
        let mut wait = std::time::Duration::from_millis(5);
        for _ in 0..RECORD_ATTEMPTS {
            if let Some(done) = self.try_commit(message, even_unchanged)? {
                return Ok(done);
            }
            // Jittered: two runs that collided do not collide again in lockstep.
            std::thread::sleep(wait + wait.mul_f64(fastrand::f64()));
            wait = (wait * 2).min(std::time::Duration::from_millis(500));
        }
        Err(Diagnostic::new(format!(
            "{REF} kept moving: {RECORD_ATTEMPTS} attempts to record lost to other runs writing it"
        ))
        .hint("the platform has the changes; run apply again once the other runs are done: it sends nothing already there and records what was applied"))
    }

    /// One attempt of [`Recorder::commit`] on the ref's current tip: `Ok(None)` when another
    /// run won the race.
    fn try_commit(&self, message: &str, even_unchanged: bool) -> Result<Option<Option<git2::Oid>>> {
        let repo = &self.repo;
        let parent = crate::git::head_of(repo, REF)?;
        let base = parent.as_ref().map(|c| c.tree()).transpose()?;
        let mut root = repo.treebuilder(base.as_ref())?;
        let existing = match base.as_ref().and_then(|t| t.get_name(&self.dir)) {
            Some(e) => Some(e.to_object(repo)?.peel_to_tree()?),
            None => None,
        };
        let mut sub = repo.treebuilder(existing.as_ref())?;
        for (file, blob) in &self.files {
            sub.insert(file, *blob, 0o100644)?;
        }
        for file in &self.forgotten {
            if sub.get(file)?.is_some() {
                sub.remove(file)?;
            }
        }
        if sub.is_empty() {
            if root.get(&self.dir)?.is_some() {
                root.remove(&self.dir)?;
            }
        } else {
            let oid = sub.write()?;
            root.insert(&self.dir, oid, 0o040000)?;
        }
        let tree_id = root.write()?;
        if !even_unchanged && base.as_ref().is_some_and(|b| b.id() == tree_id) {
            tracing::info!("state: {REF} unchanged ({})", self.dir);
            return Ok(Some(None));
        }
        let commit = crate::git::try_commit_on(repo, REF, parent.as_ref(), tree_id, message)
            .doing(|| "the last-applied state was not recorded".to_owned())?;
        if let Some(commit) = commit {
            tracing::info!(
                "state: recorded {} tenant(s), forgot {}, of `{}` on {REF} as {commit}",
                self.files.len(),
                self.forgotten.len(),
                self.dir
            );
        }
        Ok(commit.map(Some))
    }
}

/// How many times [`Recorder::commit`] tries to move [`REF`] while other runs keep moving it
/// (about a minute of backing off in all).
const RECORD_ATTEMPTS: usize = 100;

/// Records what was applied to some tenants of `env` as one commit on [`REF`], with `message`.
/// Returns the new commit, or `None` when nothing changed.
#[cfg(test)]
pub(crate) fn record(
    repo: &Path,
    env: &str,
    applied: &[(String, AppliedRecord)],
    message: &str,
) -> Result<Option<git2::Oid>> {
    let mut recorder = Recorder::new(repo, env)?;
    for (key, a) in applied {
        recorder.add(key, &a.clone().encode())?;
    }
    recorder.commit(message, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        git2::Repository::init(dir.path()).unwrap();
        dir
    }

    fn applied(name: &str) -> AppliedRecord {
        AppliedRecord {
            tree: json!({"name": name, "servers": {"w": {"secret": "hunter2", "clients": {"c": {"client_secret": "s3cr3t", "client_name": "C"}}}}}),
            source: Some("abc123".into()),
        }
    }

    #[test]
    fn records_and_reads_back_without_credentials_or_a_checkout() {
        let dir = repo();
        assert!(read(dir.path(), "prod").unwrap().is_empty());
        let first = record(
            dir.path(),
            "prod",
            &[("acme".into(), applied("A")), ("../x".into(), applied("X"))],
            "apply prod: 2 tenants",
        )
        .unwrap();
        assert!(first.is_some());
        let state = read(dir.path(), "prod").unwrap();
        assert_eq!(state.keys().collect::<Vec<_>>(), ["../x", "acme"]);
        let a = &state["acme"];
        assert_eq!(a.source.as_deref(), Some("abc123"));
        assert_eq!(
            a.tree["servers"]["w"]["clients"]["c"],
            json!({"client_name": "C"})
        );
        assert!(a.tree["servers"]["w"].get("secret").is_none());
        // Nothing changed: no commit. Another environment: its own directory, history kept.
        assert_eq!(
            record(
                dir.path(),
                "prod",
                &[("acme".into(), applied("A"))],
                "again"
            )
            .unwrap(),
            None
        );
        record(
            dir.path(),
            "staging",
            &[("acme".into(), applied("S"))],
            "apply staging",
        )
        .unwrap()
        .unwrap();
        assert_eq!(read(dir.path(), "prod").unwrap().len(), 2);
        assert_eq!(
            read(dir.path(), "staging").unwrap()["acme"].tree["name"],
            "S"
        );
        let git = git2::Repository::open(dir.path()).unwrap();
        let head = git.find_reference(REF).unwrap().peel_to_commit().unwrap();
        assert_eq!(head.message().unwrap(), "apply staging");
        assert_eq!(head.parent_count(), 1);
        // No work tree file was written and no branch moved.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        assert!(git.head().is_err(), "HEAD is still unborn");
        // Every blob of the state is free of the secrets.
        let tree = head.tree().unwrap();
        tree.walk(git2::TreeWalkMode::PreOrder, |_, e| {
            if let Ok(blob) = e.to_object(&git).and_then(|o| o.peel_to_blob()) {
                let text = String::from_utf8_lossy(blob.content());
                assert!(!text.contains("hunter2") && !text.contains("s3cr3t"));
            }
            git2::TreeWalkResult::Ok
        })
        .unwrap();
    }

    #[test]
    fn the_history_of_a_tenant_lists_each_record_it_had_newest_first() {
        let dir = repo();
        for (name, message) in [
            ("A", "first"),
            ("B", "second"),
            ("A", "back"),
            ("A", "same"),
        ] {
            record(
                dir.path(),
                "prod",
                &[("acme".into(), applied(name))],
                message,
            )
            .unwrap();
            record(
                dir.path(),
                "staging",
                &[("acme".into(), applied("S"))],
                "other",
            )
            .unwrap();
        }
        let snapshot = Snapshot::open(dir.path(), "prod").unwrap();
        let keys = ["acme", "nobody"].into_iter().collect();
        let history = snapshot.history("prod", &keys).unwrap();
        assert!(!history.contains_key("nobody"));
        let names: Vec<Value> = history["acme"]
            .iter()
            .map(|id| snapshot.read(*id, "acme").unwrap().tree["name"].clone())
            .collect();
        // A then B then A again: the record of A is one blob, listed where it was last.
        assert_eq!(names, [json!("A"), json!("B")]);
    }

    /// Two runs recording at once (two environments' applies, or two tenants' of one) never
    /// lose a record: the loser of each race puts its records on the winner's tip.
    #[test]
    fn concurrent_recorders_keep_every_record() {
        let dir = repo();
        let path = dir.path().to_path_buf();
        let runs: Vec<_> = (0..4)
            .map(|run| {
                let path = path.clone();
                std::thread::spawn(move || {
                    for i in 0..10 {
                        let env = if run % 2 == 0 { "prod" } else { "staging" };
                        let key = format!("t{run}-{i}");
                        record(&path, env, &[(key.clone(), applied(&key))], &key).unwrap();
                    }
                })
            })
            .collect();
        for r in runs {
            r.join().unwrap();
        }
        assert_eq!(read(dir.path(), "prod").unwrap().len(), 20);
        assert_eq!(read(dir.path(), "staging").unwrap().len(), 20);
        let git = git2::Repository::open(dir.path()).unwrap();
        let mut walk = git.revwalk().unwrap();
        walk.push_ref(REF).unwrap();
        assert_eq!(walk.count(), 40, "one commit per record, none lost");
    }
}

//! Backup: every tenant's live configuration as one commit on a branch, through git2 without a
//! checkout.
//!
//! Each tenant is exported (no credentials, no volatile fields) into the files of its template
//! directory ([`crate::export`]), written to git's object database as a tree of its own, and
//! compared with the tenant's tree in the branch's last commit, so that a tenant that did not
//! change costs a hash and nothing else. The commit holds `<tenant key>/...` for every tenant of
//! the environment; it is made only when something changed, and never with a tenant missing
//! unless `--partial` asks for it. Its message says per tenant which files were added, changed
//! and removed.

use std::sync::Mutex;

use std::collections::BTreeMap;

use git2::{Oid, Repository};

use crate::baseline::Live;
use crate::diagnostic::{Diagnostic, Doing, Result};
use crate::environment::{Environment, Tenant};
use crate::export::{self, Changes};
use crate::git::pack::{self, Object};
use crate::keys;

/// How a backup runs.
#[derive(Debug, Clone)]
pub struct Options {
    /// The branch (`backups/<env>` by default), without `refs/heads/`.
    pub branch: String,
    /// Commit the tenants that were exported even when some failed.
    pub partial: bool,
    /// Whether every tenant of the environment takes part (no `--tenant`): the tree then holds
    /// exactly the environment's tenants, and directories of tenants no longer in it go.
    pub whole_environment: bool,
}

/// The default branch of an environment's backups.
pub fn default_branch(env: &str) -> String {
    format!("backups/{env}")
}

/// One tenant's part of a backup.
#[derive(Debug)]
pub struct TenantBackup {
    pub key: String,
    pub id: String,
    /// The files that changed since the last backup, or why the tenant could not be exported.
    pub result: Result<Changes, Vec<Diagnostic>>,
}

/// Git repository handles for worker threads (a `Repository` is used by one thread at a time).
pub(crate) struct Handles {
    path: std::path::PathBuf,
    free: Mutex<Vec<Repository>>,
}

impl Handles {
    pub(crate) fn new(repo: &Repository) -> Handles {
        Handles {
            path: repo.path().to_path_buf(),
            free: Mutex::new(Vec::new()),
        }
    }

    fn with<T>(&self, work: impl FnOnce(&Repository) -> Result<T>) -> Result<T> {
        let taken = self
            .free
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .pop();
        let repo = match taken {
            Some(r) => r,
            None => Repository::open(&self.path)
                .doing(|| format!("cannot open {}", self.path.display()))?,
        };
        let out = work(&repo);
        self.free
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(repo);
        out
    }
}

/// The branch's last commit and its tenant trees, read once before the tenants are exported.
pub struct Previous {
    pub commit: Option<Oid>,
    pub tree: Option<Oid>,
    /// Tenant directory name → its tree.
    pub tenants: std::collections::HashMap<String, Oid>,
}

/// Reads what the branch holds now.
pub fn previous(repo: &Repository, branch: &str) -> Result<Previous> {
    let refname = format!("refs/heads/{branch}");
    let Some(commit) = crate::git::head_of(repo, &refname)? else {
        return Ok(Previous {
            commit: None,
            tree: None,
            tenants: Default::default(),
        });
    };
    let tree = commit.tree()?;
    let tenants = tree
        .iter()
        .filter(|e| e.kind() == Some(git2::ObjectType::Tree))
        .filter_map(|e| Some((e.name().ok()?.to_owned(), e.id())))
        .collect();
    Ok(Previous {
        commit: Some(commit.id()),
        tree: Some(tree.id()),
        tenants,
    })
}

/// Refuses a branch name git would refuse (or that would break plain git commands, such as
/// `HEAD`), and a branch that is checked out in any work tree of the repository (the main one
/// or a linked one): moving it would leave that work tree behind it.
pub fn check_branch(repo: &Repository, branch: &str) -> Result<(), Diagnostic> {
    crate::git::check_branch_name(branch)?;
    let refname = format!("refs/heads/{branch}");
    let here = repo.workdir().unwrap_or(repo.path()).to_path_buf();
    match crate::git::checked_out(repo, &refname).first() {
        None => Ok(()),
        Some(at) if same_dir(at, &here) => Err(Diagnostic::new(format!(
            "the branch `{branch}` is checked out here; backup writes it without touching the work tree"
        ))
        .hint("check out another branch, or back up to another one with --branch")),
        Some(at) => Err(Diagnostic::new(format!(
            "the branch `{branch}` is checked out in the work tree {}; backup writes it without touching any work tree",
            at.display()
        ))
        .hint("check out another branch there (or remove that work tree), or back up to another branch with --branch")),
    }
}

fn same_dir(a: &std::path::Path, b: &std::path::Path) -> bool {
    a == b || matches!((a.canonicalize(), b.canonicalize()), (Ok(a), Ok(b)) if a == b)
}

/// A tenant exported for a backup: its tree, what changed since the last backup, and the
/// objects to write (none when the tree is the one the last backup has).
pub(crate) struct Exported {
    pub tree: Oid,
    pub changes: Changes,
    pub objects: Vec<Object>,
}

/// Exports tenant `t` and hashes its files into a tree; `before` is its tree in the last backup.
pub(crate) fn tenant(
    handles: &Handles,
    live: &Live,
    env: &Environment,
    t: &Tenant,
    before: Option<Oid>,
) -> Result<Exported, Vec<Diagnostic>> {
    let at =
        |e: Diagnostic| vec![Diagnostic::new(format!("{e:#}")).context(&env.name, Some(&t.key))];
    // The tenant's directory in the commit: a name a checkout could write.
    keys::dir_name(&t.key).map_err(|e| at(e.into()))?;
    let files = export::tenant(live, env, t, export::Options::default())?;
    let hashed = pack::hash_files(&files).map_err(at)?;
    if before == Some(hashed.root) {
        return Ok(Exported {
            tree: hashed.root,
            changes: Changes::default(),
            objects: Vec::new(),
        });
    }
    let mut objects = hashed.objects(&files).map_err(at)?;
    let old = match before {
        Some(b) => handles.with(|repo| files_of(repo, b)).map_err(at)?,
        None => BTreeMap::new(),
    };
    // The files that did not change are in the repository already.
    let known: std::collections::HashSet<Oid> = old.values().copied().collect();
    objects.retain(|o| !known.contains(&o.id));
    let new: BTreeMap<&str, Oid> = hashed.blobs.iter().map(|(p, o)| (p.as_str(), *o)).collect();
    let mut changes = Changes::default();
    for (path, id) in &new {
        match old.get(*path) {
            None => changes.added.push((*path).to_owned()),
            Some(was) if was != id => changes.changed.push((*path).to_owned()),
            Some(_) => {}
        }
    }
    changes.removed = old
        .keys()
        .filter(|p| !new.contains_key(p.as_str()))
        .cloned()
        .collect();
    Ok(Exported {
        tree: hashed.root,
        changes,
        objects,
    })
}

/// The files of a tree in the repository: path → blob.
fn files_of(repo: &Repository, tree: Oid) -> Result<BTreeMap<String, Oid>> {
    let tree = repo.find_tree(tree)?;
    let mut out = BTreeMap::new();
    tree.walk(git2::TreeWalkMode::PreOrder, |dir, entry| {
        if entry.kind() == Some(git2::ObjectType::Blob) {
            if let Ok(name) = entry.name() {
                out.insert(format!("{dir}{name}"), entry.id());
            }
        }
        git2::TreeWalkResult::Ok
    })?;
    Ok(out)
}

/// Compressed objects kept in memory before they are written as a pack.
pub(crate) const PACK_BYTES: usize = 8 << 20;

/// The most paths a commit message lists per tenant.
const PATHS_PER_TENANT: usize = 20;

/// Writes objects to packs on a thread of its own, a few megabytes at a time, while the
/// tenants are still being exported.
pub(crate) struct ObjectWriter {
    sender: Option<std::sync::mpsc::SyncSender<Vec<Object>>>,
    thread: Option<std::thread::JoinHandle<Result<usize>>>,
}

impl ObjectWriter {
    /// Starts the writer for the repository at `git_dir`.
    pub(crate) fn start(git_dir: &std::path::Path) -> ObjectWriter {
        // Bounded: exporting waits for the writer rather than piling objects up in memory.
        let (sender, receiver) = std::sync::mpsc::sync_channel::<Vec<Object>>(4);
        let path = git_dir.to_path_buf();
        let thread = std::thread::spawn(move || -> Result<usize> {
            // A repository handle per pack: libgit2 keeps the packs it indexed mapped (and in
            // the process's memory) for as long as the handle lives.
            let flush = |packs: &mut pack::PackBuilder| -> Result<()> {
                let repo =
                    Repository::open(&path).doing(|| format!("cannot open {}", path.display()))?;
                packs.flush(&repo)
            };
            let mut packs = pack::PackBuilder::default();
            for objects in receiver {
                packs.add(objects);
                if packs.size() > PACK_BYTES {
                    flush(&mut packs)?;
                }
            }
            flush(&mut packs)?;
            Ok(packs.written())
        });
        ObjectWriter {
            sender: Some(sender),
            thread: Some(thread),
        }
    }

    /// Hands objects to the writer.
    pub(crate) fn add(&self, objects: Vec<Object>) {
        if objects.is_empty() {
            return;
        }
        if let Some(s) = &self.sender {
            // A send fails only when the writer stopped on an error, which `finish` reports.
            let _ = s.send(objects);
        }
    }

    /// Waits until every object is written; returns how many were.
    pub(crate) fn finish(mut self) -> Result<usize> {
        drop(self.sender.take());
        match self.thread.take().map(std::thread::JoinHandle::join) {
            Some(Ok(result)) => {
                result.doing(|| "the backup's objects could not be written".to_owned())
            }
            Some(Err(_)) => Err(Diagnostic::new(
                "the thread writing the backup's objects failed",
            )),
            None => Ok(0),
        }
    }
}

/// Writes the commit of a backup (every object already written): `done` are the tenants
/// exported (key → tree), `failed` the ones that were not. Returns the commit, or `None` when
/// nothing changed.
pub(crate) fn commit(
    repo: &Repository,
    env: &str,
    opts: &Options,
    previous: &Previous,
    done: &[(&Tenant, Oid, &Changes)],
    failed: &[&Tenant],
) -> Result<Option<Oid>> {
    if !failed.is_empty() && !opts.partial {
        return Err(Diagnostic::new(format!(
            "{} tenant(s) could not be exported; nothing was committed (a backup is never half; --partial commits the rest)",
            failed.len()
        )));
    }
    let refname = format!("refs/heads/{}", opts.branch);
    let parent = crate::git::head_of(repo, &refname)?;
    if parent.as_ref().map(|c| c.id()) != previous.commit {
        return Err(Diagnostic::new(format!(
            "{refname} moved while this backup ran (another backup at the same time?); run it again"
        )));
    }
    let base = parent.as_ref().map(|c| c.tree()).transpose()?;
    let mut root = repo.treebuilder(base.as_ref())?;
    let mut kept: std::collections::HashSet<String> = Default::default();
    for (t, tree, _) in done {
        let name = keys::encode(&t.key)?;
        root.insert(&name, *tree, 0o040000)?;
        kept.insert(name);
    }
    for t in failed {
        // --partial: the tenant's last backup stays as it was.
        kept.insert(keys::encode(&t.key)?);
    }
    let mut gone = Vec::new();
    if opts.whole_environment {
        for name in previous.tenants.keys() {
            if !kept.contains(name) {
                root.remove(name)?;
                gone.push(name.clone());
            }
        }
        gone.sort();
    }
    let tree = root.write()?;
    if previous.tree == Some(tree) {
        tracing::info!("backup: {refname} unchanged, no commit");
        return Ok(None);
    }
    let message = message(env, done, failed, &gone);
    let commit = crate::git::commit_on(repo, &refname, parent.as_ref(), tree, &message)?;
    tracing::info!(
        "backup: committed {} tenant(s) of `{env}` on {refname} as {commit}",
        done.len()
    );
    Ok(Some(commit))
}

/// What a backup of an environment did.
#[derive(Debug)]
pub struct Outcome {
    /// Every tenant, in the environment's order.
    pub tenants: Vec<TenantBackup>,
    /// The commit (`None` when nothing changed), or why none was made: a tenant missing
    /// without [`Options::partial`], the branch moved meanwhile.
    pub commit: Result<Option<Oid>>,
}

impl Outcome {
    /// Returns the tenants that could not be exported, with why.
    pub fn failed(&self) -> impl Iterator<Item = (&TenantBackup, &[Diagnostic])> {
        self.tenants
            .iter()
            .filter_map(|t| t.result.as_ref().err().map(|ds| (t, ds.as_slice())))
    }
}

/// Backs up `tenants` of `env` from `live` onto `options.branch` of `repo`, whose last commit
/// was `previous`, `live.concurrency` tenants at a time; `each` is called as each tenant is
/// done. Objects go to packs as tenants finish, a few megabytes at a time. An error means the
/// objects could not be written, and nothing was committed.
pub fn run(
    repo: &Repository,
    env: &Environment,
    live: &Live,
    tenants: &[&Tenant],
    options: &Options,
    previous: &Previous,
    mut each: impl FnMut(),
) -> Result<Outcome> {
    let handles = Handles::new(repo);
    let mut results = Vec::with_capacity(tenants.len());
    let writer = ObjectWriter::start(repo.path());
    crate::parallel::ordered(
        tenants,
        live.concurrency,
        |t| {
            let before = keys::encode(&t.key)
                .ok()
                .and_then(|name| previous.tenants.get(&name).copied());
            crate::activity::tenant("backup", &env.name, t, || {
                tenant(&handles, live, env, t, before)
            })
        },
        |mut r: Result<Exported, _>| {
            each();
            if let Ok(exported) = &mut r {
                writer.add(std::mem::take(&mut exported.objects));
            }
            results.push(r);
        },
    );
    drop(handles);
    writer
        .finish()
        .doing(|| "nothing was committed".to_owned())?;
    let mut done = Vec::new();
    let mut failed = Vec::new();
    for (t, result) in tenants.iter().zip(&results) {
        match result {
            Ok(exported) => done.push((*t, exported.tree, &exported.changes)),
            Err(_) => failed.push(*t),
        }
    }
    let commit = commit(repo, &env.name, options, previous, &done, &failed);
    let tenants = tenants
        .iter()
        .zip(results)
        .map(|(t, result)| TenantBackup {
            key: t.key.clone(),
            id: t.id.clone(),
            result: result.map(|exported| exported.changes),
        })
        .collect();
    Ok(Outcome { tenants, commit })
}

/// The report of a backup: what `promote backup --output json` prints.
#[derive(Debug, serde::Serialize)]
pub struct Report {
    pub version: u32,
    pub env: String,
    pub branch: String,
    pub commit: Option<String>,
    pub tenants: Vec<ReportTenant>,
}

/// One tenant of a [`Report`].
#[derive(Debug, serde::Serialize)]
pub struct ReportTenant {
    pub key: String,
    pub id: String,
    /// Empty for a tenant that could not be exported.
    pub changes: Changes,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<String>>,
}

impl Report {
    /// Returns the report of the `tenants` of a backup of `env` on `branch` that made `commit`.
    pub fn new(env: &str, branch: &str, tenants: &[TenantBackup], commit: Option<Oid>) -> Report {
        Report {
            version: 1,
            env: env.to_owned(),
            branch: branch.to_owned(),
            commit: commit.map(|c| c.to_string()),
            tenants: tenants
                .iter()
                .map(|t| ReportTenant {
                    key: t.key.clone(),
                    id: t.id.clone(),
                    changes: t.result.as_ref().cloned().unwrap_or_default(),
                    errors: t
                        .result
                        .as_ref()
                        .err()
                        .map(|ds| ds.iter().map(|d| d.to_string()).collect()),
                })
                .collect(),
        }
    }
}

/// Returns the text report of the `tenants` of a backup on `branch` that made `commit`: a line
/// per tenant changed, then what was committed.
pub fn text(branch: &str, tenants: &[TenantBackup], commit: Option<Oid>) -> String {
    let done: Vec<(&TenantBackup, &Changes)> = tenants
        .iter()
        .filter_map(|t| t.result.as_ref().ok().map(|c| (t, c)))
        .collect();
    let failed = tenants.len() - done.len();
    let mut out = String::new();
    let mut changed = 0;
    for (t, c) in done.iter().filter(|(_, c)| !c.is_empty()) {
        out.push_str(&format!("{} ({}): {c}\n", t.key, t.id));
        changed += 1;
    }
    match commit {
        Some(id) => out.push_str(&format!(
            "committed {} on {branch}: {changed} tenant(s) changed, {} unchanged{}\n",
            &id.to_string()[..12],
            done.len() - changed,
            if failed == 0 {
                String::new()
            } else {
                format!(", {failed} missing")
            }
        )),
        None => out.push_str(&format!(
            "nothing changed in {} tenant(s): no commit on {branch}\n",
            done.len()
        )),
    }
    out
}

fn message(
    env: &str,
    done: &[(&Tenant, Oid, &Changes)],
    failed: &[&Tenant],
    gone: &[String],
) -> String {
    let changed: Vec<&(&Tenant, Oid, &Changes)> =
        done.iter().filter(|(_, _, c)| !c.is_empty()).collect();
    let mut out = format!(
        "backup {env}: {} tenant(s) changed, {} unchanged",
        changed.len(),
        done.len() - changed.len()
    );
    if !failed.is_empty() {
        out.push_str(&format!(", {} missing", failed.len()));
    }
    out.push_str("\n\n");
    for (t, _, c) in &changed {
        out.push_str(&format!("{} ({}): {c}\n", t.key, t.id));
        let lines = c
            .added
            .iter()
            .map(|p| ('+', p))
            .chain(c.changed.iter().map(|p| ('~', p)))
            .chain(c.removed.iter().map(|p| ('-', p)));
        let total = c.len();
        for (sign, path) in lines.take(PATHS_PER_TENANT) {
            out.push_str(&format!("  {sign} {path}\n"));
        }
        if total > PATHS_PER_TENANT {
            out.push_str(&format!("  ... and {} more\n", total - PATHS_PER_TENANT));
        }
    }
    if !gone.is_empty() {
        out.push_str(&format!(
            "\nNo longer in the environment (removed): {}\n",
            gone.join(", ")
        ));
    }
    if !failed.is_empty() {
        let names: Vec<String> = failed
            .iter()
            .map(|t| format!("{} ({})", t.key, t.id))
            .collect();
        out.push_str(&format!(
            "\nMissing (could not be exported; their last backup is kept): {}\n",
            names.join(", ")
        ));
    }
    out
}

/// Pushes `branch` to `remote` (a remote's name or a URL); a non-fast-forward is refused.
pub fn push(repo: &Repository, remote: &str, branch: &str) -> Result<()> {
    let refspec = format!("refs/heads/{branch}:refs/heads/{branch}");
    crate::git::push(repo, remote, &refspec).doing(|| format!("cannot push {branch}"))
}

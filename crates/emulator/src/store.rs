//! The emulator's tenants: one JSON document per tenant on disk (`DIR/tenants/<tid>.json`,
//! written atomically) so that they survive restarts, and in memory as compact JSON bytes.
//!
//! Reads take a snapshot (an `Arc` of the current document) without waiting for writers.
//! Writes to one tenant are serialized by its writer lock: a writer computes the next tree from
//! the current one and publishes it as the next version, so concurrent patches never lose an
//! update. Then, without the writer lock, it waits until its version is on disk before it
//! answers: whoever takes the flush lock writes the *latest* version, so one fsync covers every
//! write published meanwhile (group commit) and a queue of patches to one tenant is not bound
//! by the disk's fsync latency.
//!
//! A tenant is read from disk when it is first used, not at start. With [`Retain::Never`] (the
//! embedded emulator of a command that may touch thousands of tenants once each), a document
//! is dropped from memory as soon as it is on disk, so memory holds only writes in flight.
//!
//! One emulator at a time owns a data directory: the store holds a lock on `DIR/.lock` for its
//! lifetime, and a second emulator (`promote serve` or the embedded one of a command) on the
//! same directory is refused rather than left to overwrite the first one's acknowledged writes.
//! Files are written under the directory without following a symlink, and read only when they
//! are regular files no larger than [`MAX_TENANT_FILE`].

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock, RwLock};

use axum::body::Bytes;
use promote_fs::{refused, Doing, Result};
use serde_json::Value;

use promote_platform::credentials::{self, Scope};

/// Returns whether `s` can be a tenant ID: 1 to 64 of `[A-Za-z0-9_-]`, not `system` (a path
/// segment of the system endpoints). Tenant IDs name files, so this also keeps them inside the
/// data directory.
pub(crate) fn is_tenant_id(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s != "system"
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The largest tenant document read from disk: promote's client refuses a larger export
/// anyway ([`promote_platform::MAX_TENANT_BYTES`]).
pub(crate) const MAX_TENANT_FILE: u64 = promote_platform::MAX_TENANT_BYTES;

/// What the store keeps in memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Retain {
    /// Every document once used, and its export without credentials (`promote serve`).
    #[default]
    Always,
    /// Only documents not yet on disk (the embedded emulator).
    Never,
}

/// One version of a tenant's configuration: compact JSON, credentials included.
#[derive(Debug)]
pub(crate) struct Doc {
    pub bytes: Bytes,
    /// Counts the writes published to this tenant since the emulator started.
    pub version: u64,
    without_credentials: OnceLock<Bytes>,
    /// The parsed tree, kept when the store retains documents (writers then skip parsing).
    parsed: OnceLock<Value>,
}

impl Doc {
    pub(crate) fn new(bytes: Bytes, version: u64) -> Doc {
        Doc {
            bytes,
            version,
            without_credentials: OnceLock::new(),
            parsed: OnceLock::new(),
        }
    }

    /// The tree. The bytes were checked to be JSON when read or written.
    pub(crate) fn tree(&self) -> Value {
        match self.parsed.get() {
            Some(tree) => tree.clone(),
            None => serde_json::from_slice(&self.bytes).unwrap_or(Value::Null),
        }
    }

    /// The export answer: the tree as JSON, with or without its credential fields.
    pub(crate) fn export(&self, with_credentials: bool, cache: bool) -> Bytes {
        if with_credentials {
            return self.bytes.clone();
        }
        let make = || {
            let mut tree = self.tree();
            credentials::strip(&mut tree, Scope::Tenant);
            to_bytes(&tree)
        };
        match (cache, self.without_credentials.get()) {
            (_, Some(b)) => b.clone(),
            (true, None) => self.without_credentials.get_or_init(make).clone(),
            (false, None) => make(),
        }
    }
}

/// Serializes a tree as JSON (keys sorted: serde_json's map is ordered).
pub(crate) fn to_bytes(value: &Value) -> Bytes {
    // Serializing a `Value` into memory cannot fail: its keys are strings.
    Bytes::from(serde_json::to_vec(value).unwrap_or_default())
}

/// One tenant: the current document and the lock its writers take in turn.
#[derive(Debug)]
pub(crate) struct Slot {
    pub tid: String,
    pub writer: tokio::sync::Mutex<()>,
    /// The version known to be on disk; held while writing it.
    durable: tokio::sync::Mutex<u64>,
    /// The latest version published (written under the writer lock).
    published: std::sync::atomic::AtomicU64,
    /// `None`: the document is on disk only (or the tenant is new and empty).
    current: RwLock<Option<Arc<Doc>>>,
    /// The tenant's file (the data directory and the path in it), when the store has one.
    file: Option<(PathBuf, String)>,
    retain: Retain,
}

impl Slot {
    /// The current document; later writes do not change it.
    pub(crate) fn snapshot(&self) -> Result<Arc<Doc>> {
        // A poisoned lock only means a reader panicked while cloning an Arc; the value is whole.
        if let Some(doc) = self
            .current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .as_ref()
        {
            return Ok(doc.clone());
        }
        let doc = Arc::new(Doc::new(self.load()?, self.version()));
        if self.retain == Retain::Always {
            let mut current = self
                .current
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            // A writer may have published meanwhile: keep the newer one.
            return Ok(current.get_or_insert(doc).clone());
        }
        Ok(doc)
    }

    /// The document on disk, or an empty tenant.
    fn load(&self) -> Result<Bytes> {
        let Some((dir, rel)) = &self.file else {
            return Ok(Bytes::from_static(b"{}"));
        };
        let file = dir.join(rel);
        match std::fs::symlink_metadata(&file) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Bytes::from_static(b"{}"))
            }
            Ok(m) if m.file_type().is_symlink() => return Err(refused(format!(
                "{} is a symlink; the emulator reads only its own files (remove it to start the tenant empty)",
                file.display()
            ))),
            _ => {}
        }
        let bytes = promote_fs::read_limited(&file, MAX_TENANT_FILE)
            .doing(|| format!("cannot read {}", file.display()))?;
        serde_json::from_slice::<serde::de::IgnoredAny>(&bytes).doing(|| {
            format!(
                "{} is not valid JSON; restore it from a backup or remove it to start the tenant empty",
                file.display()
            )
        })?;
        Ok(Bytes::from(bytes))
    }

    fn version(&self) -> u64 {
        self.published.load(std::sync::atomic::Ordering::Acquire)
    }
}

/// Creates the data directory `dir` if needed and locks it (an advisory lock on the directory
/// itself); fails, naming the directory, when another emulator holds it. Returns the
/// directory's canonical path (what is below it is never reached through a symlink) and the
/// open directory that holds the lock.
fn lock(dir: &Path) -> Result<(PathBuf, std::fs::File)> {
    std::fs::create_dir_all(dir)
        .doing(|| format!("cannot create the data directory {}", dir.display()))?;
    let real = dir
        .canonicalize()
        .doing(|| format!("cannot open the data directory {}", dir.display()))?;
    // The directory itself is locked, not a file in it that could be deleted under a running
    // emulator.
    let path = real.clone();
    let file = std::fs::File::open(&real)
        .doing(|| format!("cannot open the data directory {}", real.display()))?;
    match file.try_lock() {
        Ok(()) => Ok((real, file)),
        Err(std::fs::TryLockError::WouldBlock) => Err(refused(format!(
            "the data directory {} is in use by another emulator (`promote serve --data` or a command whose environment has `target: {{emulator: ...}}`); two emulators on one directory would lose each other's writes. Stop the other one, or use another directory",
            dir.display()
        ))),
        Err(std::fs::TryLockError::Error(e)) => {
            Err(e).doing(|| format!("cannot lock {}", path.display()))
        }
    }
}

/// Every tenant of the emulator.
#[derive(Debug)]
pub struct Store {
    dir: Option<PathBuf>,
    retain: Retain,
    tenants: RwLock<HashMap<String, Arc<Slot>>>,
    /// The data directory's lock, held while the store lives (released when the file closes).
    _lock: Option<std::fs::File>,
}

impl Store {
    /// Opens the store on the tenants persisted in `dir` (none when `dir` is `None`: everything
    /// then lives in memory only, whatever `retain` says). Their documents are read when used.
    /// Fails when another emulator holds the directory.
    pub(crate) fn open(dir: Option<&Path>, retain: Retain) -> Result<Store> {
        let (dir, lock) = match dir.map(lock).transpose()? {
            Some((dir, lock)) => (Some(dir), Some(lock)),
            None => (None, None),
        };
        let store = Store {
            dir: dir.clone(),
            retain: if dir.is_some() {
                retain
            } else {
                Retain::Always
            },
            tenants: RwLock::new(HashMap::new()),
            _lock: lock,
        };
        if let Some(dir) = &dir {
            let tdir = promote_fs::plain_dirs(dir, "tenants/x.json", true)
                .doing(|| format!("cannot create the data directory {}", dir.display()))?;
            for entry in
                std::fs::read_dir(&tdir).doing(|| format!("cannot read {}", tdir.display()))?
            {
                let path = entry
                    .doing(|| format!("cannot read {}", tdir.display()))?
                    .path();
                let Some(tid) = path
                    .file_name()
                    .and_then(|n| n.to_str())
                    .and_then(|n| n.strip_suffix(".json"))
                else {
                    continue;
                };
                if !is_tenant_id(tid) {
                    tracing::warn!(file = %path.display(), "not a tenant file; left alone");
                    continue;
                }
                store.ensure(tid);
            }
        }
        Ok(store)
    }

    /// Makes sure tenant `tid` exists (empty if it has no document yet).
    pub(crate) fn ensure(&self, tid: &str) {
        let mut tenants = self
            .tenants
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        tenants.entry(tid.to_owned()).or_insert_with(|| {
            Arc::new(Slot {
                tid: tid.to_owned(),
                writer: tokio::sync::Mutex::new(()),
                durable: tokio::sync::Mutex::new(0),
                published: std::sync::atomic::AtomicU64::new(0),
                current: RwLock::new(None),
                file: self
                    .dir
                    .as_ref()
                    .map(|d| (d.clone(), format!("tenants/{tid}.json"))),
                retain: self.retain,
            })
        });
    }

    pub(crate) fn get(&self, tid: &str) -> Option<Arc<Slot>> {
        self.tenants
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(tid)
            .cloned()
    }

    /// Whether exports without credentials are kept with their document.
    pub(crate) fn caches_exports(&self) -> bool {
        self.retain == Retain::Always
    }

    /// Every tenant, sorted.
    pub fn tenant_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self
            .tenants
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .keys()
            .cloned()
            .collect();
        ids.sort();
        ids
    }

    /// Publishes `tree` as the tenant's configuration and returns its version. The caller holds
    /// the slot's writer lock.
    pub(crate) fn publish(&self, slot: &Slot, tree: Value) -> u64 {
        let version = slot.version() + 1;
        let doc = Doc::new(to_bytes(&tree), version);
        if self.retain == Retain::Always {
            let _ = doc.parsed.set(tree);
        }
        *slot
            .current
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(Arc::new(doc));
        slot.published
            .store(version, std::sync::atomic::Ordering::Release);
        version
    }

    /// Returns once `version` of the tenant is on disk (at once without a data directory).
    pub(crate) async fn persist(&self, slot: &Slot, version: u64) -> Result<()> {
        let Some(file) = &slot.file else {
            return Ok(());
        };
        let mut durable = slot.durable.lock().await;
        if *durable >= version {
            return Ok(());
        }
        let Some(doc) = slot
            .current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
        else {
            return Ok(());
        };
        let (dir, rel) = file.clone();
        let bytes = doc.bytes.clone();
        tokio::task::spawn_blocking(move || {
            promote_fs::write_under(&dir, &rel, &bytes, promote_fs::WriteMode::PRIVATE)
        })
        .await
        .doing(|| "the writer thread failed".to_owned())??;
        *durable = doc.version;
        if slot.retain == Retain::Never {
            let mut current = slot
                .current
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            // Only what is on disk may leave memory.
            if current.as_ref().is_some_and(|c| c.version == doc.version) {
                *current = None;
            }
        }
        Ok(())
    }

    /// The latest version published to a tenant (0: none since start).
    pub(crate) fn version(&self, slot: &Slot) -> u64 {
        slot.version()
    }
}

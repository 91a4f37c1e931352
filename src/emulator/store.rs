//! The emulator's tenants: in memory for speed, one JSON document per tenant on disk
//! (`DIR/tenants/<tid>.json`, written atomically) so that they survive restarts.
//!
//! Reads take a snapshot (an `Arc` of the current document) without waiting for writers.
//! Writes to one tenant are serialized by its writer lock: a writer computes the next tree from
//! the current one and publishes it as the next version, so concurrent patches never lose an
//! update. Then, without the writer lock, it waits until its version is on disk before it
//! answers: whoever takes the flush lock writes the *latest* version, so one fsync covers every
//! write published meanwhile (group commit) and a queue of patches to one tenant is not bound
//! by the disk's fsync latency.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock, RwLock};

use anyhow::{Context, Result};
use axum::body::Bytes;
use serde_json::{Map, Value};

use crate::credentials::{self, Scope};

/// Returns whether `s` can be a tenant ID: 1 to 64 of `[A-Za-z0-9_-]`, not `system` (a path
/// segment of the system endpoints). Tenant IDs name files, so this also keeps them inside the
/// data directory.
pub fn is_tenant_id(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s != "system"
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// One version of a tenant's configuration, with its serialized exports made on first use.
#[derive(Debug)]
pub struct Doc {
    pub tree: Value,
    /// Counts the writes published to this tenant since the emulator started.
    pub version: u64,
    without_credentials: OnceLock<Bytes>,
    with_credentials: OnceLock<Bytes>,
}

impl Doc {
    pub fn new(tree: Value, version: u64) -> Doc {
        Doc {
            tree,
            version,
            without_credentials: OnceLock::new(),
            with_credentials: OnceLock::new(),
        }
    }

    /// The export answer: the tree as JSON, with or without its credential fields.
    pub fn export(&self, with_credentials: bool) -> Bytes {
        if with_credentials {
            self.with_credentials
                .get_or_init(|| to_bytes(&self.tree))
                .clone()
        } else {
            self.without_credentials
                .get_or_init(|| {
                    let mut tree = self.tree.clone();
                    credentials::strip(&mut tree, Scope::Tenant);
                    to_bytes(&tree)
                })
                .clone()
        }
    }
}

/// Serializes a tree as JSON (keys sorted: serde_json's map is ordered).
pub fn to_bytes(value: &Value) -> Bytes {
    // Serializing a `Value` into memory cannot fail: its keys are strings.
    Bytes::from(serde_json::to_vec(value).unwrap_or_default())
}

/// One tenant: the current document and the lock its writers take in turn.
#[derive(Debug)]
pub struct Slot {
    pub tid: String,
    pub writer: tokio::sync::Mutex<()>,
    /// The version known to be on disk; held while writing it.
    durable: tokio::sync::Mutex<u64>,
    current: RwLock<Arc<Doc>>,
}

impl Slot {
    /// The current document; later writes do not change it.
    pub fn snapshot(&self) -> Arc<Doc> {
        // A poisoned lock only means a reader panicked while cloning an Arc; the value is whole.
        self.current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    fn publish(&self, doc: Arc<Doc>) {
        *self
            .current
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = doc;
    }
}

/// Every tenant of the emulator.
#[derive(Debug)]
pub struct Store {
    dir: Option<PathBuf>,
    tenants: RwLock<HashMap<String, Arc<Slot>>>,
}

impl Store {
    /// Opens the store, loading the tenants persisted in `dir` (none when `dir` is `None`:
    /// everything then lives in memory only).
    pub fn open(dir: Option<&Path>) -> Result<Store> {
        let mut tenants = HashMap::new();
        if let Some(dir) = dir {
            let tdir = dir.join("tenants");
            std::fs::create_dir_all(&tdir)
                .with_context(|| format!("cannot create the data directory {}", tdir.display()))?;
            for entry in std::fs::read_dir(&tdir)
                .with_context(|| format!("cannot read {}", tdir.display()))?
            {
                let path = entry
                    .with_context(|| format!("cannot read {}", tdir.display()))?
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
                let text = std::fs::read(&path)
                    .with_context(|| format!("cannot read {}", path.display()))?;
                let tree: Value = serde_json::from_slice(&text).with_context(|| {
                    format!(
                        "{} is not valid JSON; restore it from a backup or remove it to start the tenant empty",
                        path.display()
                    )
                })?;
                tenants.insert(tid.to_owned(), Arc::new(slot(tid, tree)));
            }
        }
        Ok(Store {
            dir: dir.map(Path::to_path_buf),
            tenants: RwLock::new(tenants),
        })
    }

    /// Makes sure tenant `tid` exists, empty if it is new.
    pub fn ensure(&self, tid: &str) {
        let mut tenants = self
            .tenants
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        tenants
            .entry(tid.to_owned())
            .or_insert_with(|| Arc::new(slot(tid, Value::Object(Map::new()))));
    }

    pub fn get(&self, tid: &str) -> Option<Arc<Slot>> {
        self.tenants
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(tid)
            .cloned()
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
    pub fn publish(&self, slot: &Slot, tree: Value) -> u64 {
        let version = slot.snapshot().version + 1;
        slot.publish(Arc::new(Doc::new(tree, version)));
        version
    }

    /// Returns once `version` of the tenant is on disk (at once without a data directory).
    pub async fn persist(&self, slot: &Slot, version: u64) -> Result<()> {
        let Some(dir) = &self.dir else {
            return Ok(());
        };
        let mut durable = slot.durable.lock().await;
        if *durable >= version {
            return Ok(());
        }
        let doc = slot.snapshot();
        let path = crate::files::inside(dir, &format!("tenants/{}.json", slot.tid))?;
        let bytes = doc.export(true);
        tokio::task::spawn_blocking(move || crate::files::write_atomic(&path, &bytes))
            .await
            .context("the writer thread failed")??;
        *durable = doc.version;
        Ok(())
    }
}

fn slot(tid: &str, tree: Value) -> Slot {
    Slot {
        tid: tid.to_owned(),
        writer: tokio::sync::Mutex::new(()),
        durable: tokio::sync::Mutex::new(0),
        current: RwLock::new(Arc::new(Doc::new(tree, 0))),
    }
}

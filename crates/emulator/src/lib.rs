//! A local implementation of the platform's Configuration Promotion API (DESIGN section 1),
//! served by `promote serve` and started in-process for environments whose target is
//! `emulator: DIR`.
//!
//! - [`routes`]: the route table (and the OpenAPI document checked against it);
//! - [`api`]: the handlers; [`mod@write`]: what imports and patches do to a tree, with the modes;
//! - [`mod@decode`]: what the platform's typed decoder makes of a written tree; [`mod@check`]: what
//!   the platform refuses to store;
//! - [`store`]: tenants in memory and on disk; [`auth`]: clients and tokens;
//! - [`generate`]: credentials the platform makes itself; [`idempotency`], [`faults`].

// The documentation is for maintainers and built with private items (`.ci/run`): public items
// may link to private ones.
#![allow(rustdoc::private_intra_doc_links)]

pub(crate) mod api;
pub mod auth;
pub(crate) mod check;
pub(crate) mod decode;
pub(crate) mod error;
pub mod faults;
pub(crate) mod generate;
pub(crate) mod idempotency;
pub(crate) mod routes;
pub mod store;
pub(crate) mod write;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use promote_fs::{refused, Doing, Result};
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::Notify;

use auth::{Auth, OAuthClient};
use check::Problem;
use faults::{Dice, Faults, RateLimit};
use promote_platform::credentials::{self, Scope};
use promote_platform::local::LocalPlatform;
use store::Store;

/// Default largest request body.
pub const DEFAULT_MAX_BODY: usize = 16 * 1024 * 1024;

/// How an emulator is set up.
#[derive(Debug, Default)]
pub struct Config {
    /// Where tenants persist; `None` keeps them in memory.
    pub data: Option<PathBuf>,
    pub clients: Vec<OAuthClient>,
    pub faults: Faults,
    pub seed: u64,
    pub rate: Option<RateLimit>,
    /// Largest request body; 0 means [`DEFAULT_MAX_BODY`].
    pub max_body: usize,
    /// What stays in memory.
    pub retain: store::Retain,
    /// Keep the fields of a write that the platform's model does not know, instead of dropping
    /// them as the platform does: for tests of a platform newer than the spec.
    pub keep_unknown: bool,
}

/// The state every handler shares.
#[derive(Debug)]
pub struct Emulator {
    pub store: Store,
    pub auth: Auth,
    pub dice: Dice,
    pub rate: Option<RateLimit>,
    pub idempotency: idempotency::Cache,
    pub max_body: usize,
    /// See [`Config::keep_unknown`].
    pub keep_unknown: bool,
}

impl Emulator {
    /// Opens the data directory and registers the clients; each client's tenant exists from
    /// then on (empty if it is new).
    pub fn new(config: Config) -> Result<Emulator> {
        let store = Store::open(config.data.as_deref(), config.retain)?;
        for c in config
            .clients
            .iter()
            .filter(|c| c.tenant != auth::SYSTEM_TENANT)
        {
            store.ensure(&c.tenant);
        }
        Ok(Emulator {
            store,
            auth: Auth::new(config.clients),
            dice: Dice::new(config.faults, config.seed),
            rate: config.rate,
            idempotency: idempotency::Cache::default(),
            max_body: if config.max_body == 0 {
                DEFAULT_MAX_BODY
            } else {
                config.max_body
            },
            keep_unknown: config.keep_unknown,
        })
    }

    /// Waits until no write is in flight and every published write is on disk.
    pub(crate) async fn quiesce(&self) {
        for tid in self.store.tenant_ids() {
            if let Some(slot) = self.store.get(&tid) {
                let _writer = slot.writer.lock().await;
                if let Err(e) = self.store.persist(&slot, self.store.version(&slot)).await {
                    tracing::error!("tenant {tid} could not be written to disk: {e:#}");
                }
            }
        }
    }
}

/// What the emulator refuses to store: what the platform refuses ([`check::tenant`]: types,
/// keyed collections, IDs, references), and credential fields that still hold a `<secret:NAME>` marker (promote must
/// have substituted the value before sending). Plain-text credentials are what a platform holds,
/// so they are not problems here.
pub(crate) fn check(tree: &Value) -> Vec<Problem> {
    let mut problems = check::tenant(tree);
    credentials::for_each(tree, Scope::Tenant, |at, value| {
        // The marker's text is not repeated: in a credential field, what looks like a name may
        // be the secret itself, and this answer reaches reports.
        if credentials::holds_secret(value) {
            problems.push(Problem {
                pointer: at,
                message: "unresolved secret reference (a `<secret:NAME>` marker)".to_owned(),
                hint: Some(
                    "promote substitutes PROMOTE_SECRET_NAME before sending; a marker must never reach the platform"
                        .to_owned(),
                ),
            });
        }
    });
    problems
}

/// Put in every request's extensions: notifying it closes the connection without an answer.
#[derive(Debug, Clone)]
pub(crate) struct Killer(pub Arc<Notify>);

/// Serves `emulator` on `listener` until `shutdown` completes, then waits for writes in flight.
pub async fn serve(
    listener: TcpListener,
    emulator: Arc<Emulator>,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let app = api::router(emulator.clone());
    tokio::pin!(shutdown);
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: wait a little rather than spin.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let kill = Arc::new(Notify::new());
        let service =
            TowerToHyperService::new(app.clone().layer(axum::Extension(Killer(kill.clone()))));
        tokio::spawn(async move {
            let conn = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service);
            tokio::select! {
                _ = conn => {}
                () = kill.notified() => {}
            }
        });
    }
    emulator.quiesce().await;
}

/// An emulator running in-process on an ephemeral loopback port for one command, with one
/// client per tenant whose secret exists only in memory.
pub struct Embedded {
    pub url: String,
    pub addr: SocketAddr,
    clients: Vec<OAuthClient>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    done: std::sync::Mutex<Option<std::sync::mpsc::Receiver<()>>>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl LocalPlatform for Embedded {
    fn url(&self) -> &str {
        &self.url
    }

    fn credentials(&self, tid: &str) -> Option<(&str, &str)> {
        Embedded::credentials(self, tid)
    }
}

impl std::fmt::Debug for Embedded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Embedded").field("url", &self.url).finish()
    }
}

impl Embedded {
    /// Starts an emulator on `data` for `tenants` (platform tenant IDs).
    pub fn start(data: &Path, tenants: &[String]) -> Result<Embedded> {
        let mut clients: Vec<OAuthClient> = Vec::new();
        for tid in tenants {
            if clients.iter().any(|c| &c.tenant == tid) {
                continue;
            }
            if !store::is_tenant_id(tid) {
                return Err(refused(format!(
                    "`{tid}` cannot be a tenant of the emulator: tenant IDs are 1 to 64 of A-Z a-z 0-9 - _"
                )));
            }
            clients.push(OAuthClient {
                tenant: tid.clone(),
                id: "promote".into(),
                secret: generate::secret().map_err(|e| {
                    refused(format!("no randomness for the emulator's client: {e}"))
                })?,
                scopes: auth::SCOPES.iter().map(|s| (*s).to_owned()).collect(),
            });
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("promote-emulator")
            .enable_all()
            .build()
            .doing(|| "cannot start the emulator's runtime".to_owned())?;
        let emulator = Arc::new(Emulator::new(Config {
            data: Some(data.to_path_buf()),
            clients: clients.clone(),
            retain: store::Retain::Never,
            ..Config::default()
        })?);
        let listener = runtime
            .block_on(TcpListener::bind(("127.0.0.1", 0)))
            .doing(|| "cannot listen on 127.0.0.1 for the embedded emulator".to_owned())?;
        let addr = listener.local_addr()?;
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        runtime.spawn(async move {
            serve(listener, emulator, async {
                let _ = rx.await;
            })
            .await;
            let _ = done_tx.send(());
        });
        Ok(Embedded {
            url: format!("http://{addr}"),
            addr,
            clients,
            shutdown: Some(tx),
            done: std::sync::Mutex::new(Some(done_rx)),
            runtime: Some(runtime),
        })
    }

    /// [`Embedded::start`] as a [`promote_platform::local::Start`]: what the `promote` binary
    /// installs for `target.emulator` environments.
    pub fn start_local(
        data: &Path,
        tenants: &[String],
    ) -> std::result::Result<Box<dyn LocalPlatform>, String> {
        match Embedded::start(data, tenants) {
            Ok(e) => Ok(Box::new(e)),
            Err(e) => Err(format!("{e:#}")),
        }
    }

    /// The client ID and secret provisioned for tenant `tid`.
    pub fn credentials(&self, tid: &str) -> Option<(&str, &str)> {
        self.clients
            .iter()
            .find(|c| c.tenant == tid)
            .map(|c| (c.id.as_str(), c.secret.as_str()))
    }
}

impl Drop for Embedded {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let done = self
            .done
            .get_mut()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some(done) = done {
            // Writes in flight finish (they are atomic on disk either way).
            let _ = done.recv_timeout(Duration::from_secs(10));
        }
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_timeout(Duration::from_secs(1));
        }
    }
}

//! `promote serve`: the emulator of the Configuration Promotion API on a port of its own.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{anyhow, Context};

use super::{CommandResult, Exit, Ui};
use promote_emulator::auth::OAuthClient;
use promote_emulator::faults::{Faults, RateLimit};
use promote_emulator::{self as emulator, Config, Emulator};

/// Run the emulator of the platform's Configuration Promotion API (OAuth2 token endpoint,
/// export, import, RFC 6902 / RFC 7396 patch), for tests and local work
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on (plain HTTP: keep it on loopback)
    #[arg(long, default_value = "127.0.0.1:8443", value_name = "ADDR")]
    pub listen: String,
    /// Directory where tenants persist (one JSON file per tenant); default: memory only
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// OAuth2 client TENANT:ID:SECRET[:SCOPES] (repeatable; scopes joined with `+`, default
    /// manage_configuration+read_configuration). Its tenant exists from then on. Prefer the
    /// environment variable, comma-separated, to keep secrets out of `ps`
    #[arg(
        long = "client",
        value_name = "SPEC",
        env = "PROMOTE_SERVE_CLIENTS",
        value_delimiter = ',',
        hide_env_values = true
    )]
    pub clients: Vec<String>,
    /// Fault to inject (repeatable): latency=50ms, 500=P, 429=P, forbidden=P, drop=P, lose=P
    #[arg(long = "fault", value_name = "FAULT")]
    pub faults: Vec<String>,
    /// Seed of the fault dice, so a run can be reproduced
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Rate limit over all API requests, e.g. 50/s (answered 429 with Retry-After)
    #[arg(long, value_name = "N/s")]
    pub rate: Option<String>,
    /// Largest request body in bytes (answered 413 beyond)
    #[arg(long, default_value_t = emulator::DEFAULT_MAX_BODY, value_name = "BYTES")]
    pub max_body: usize,
    /// Keep the fields of a write that the platform's model does not know (the platform drops
    /// them): to stand in for a platform newer than its published spec
    #[arg(long)]
    pub keep_unknown: bool,
}

pub fn run(ui: &Ui, args: &ServeArgs) -> CommandResult {
    let clients = args
        .clients
        .iter()
        .map(|spec| OAuthClient::parse(spec).map_err(|e| anyhow!("--client: {e}")))
        .collect::<Result<Vec<_>, _>>()?;
    let mut faults = Faults::default();
    for spec in &args.faults {
        faults.add(spec).map_err(|e| anyhow!("--fault: {e}"))?;
    }
    let rate = args
        .rate
        .as_deref()
        .map(RateLimit::parse)
        .transpose()
        .map_err(|e| anyhow!("--rate: {e}"))?;
    let emulator = Arc::new(Emulator::new(Config {
        data: args.data.clone(),
        clients,
        faults,
        seed: args.seed,
        rate,
        max_body: args.max_body,
        retain: promote_emulator::store::Retain::Always,
        keep_unknown: args.keep_unknown,
    })?);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(&args.listen)
            .await
            .with_context(|| {
                format!(
                    "cannot listen on {}; pick another address with --listen",
                    args.listen
                )
            })?;
        let addr = listener.local_addr()?;
        if !addr.ip().is_loopback() {
            tracing::warn!(
                "listening on {addr}, beyond loopback, over plain HTTP: anyone who reaches it can use its clients"
            );
        }
        let tenants = emulator.store.tenant_ids();
        // Always printed, even with -q: with --listen 127.0.0.1:0 it is how callers learn the port.
        eprintln!(
            "{}",
            format_args!(
            "promote serve: listening on http://{addr} ({} tenants: {}; data {})",
            tenants.len(),
            if tenants.is_empty() {
                "none yet, add one with --client TENANT:ID:SECRET".to_owned()
            } else {
                tenants.join(", ")
            },
            match &args.data {
                Some(d) => d.display().to_string(),
                None => "in memory only: pass --data DIR to keep it".to_owned(),
            }
        ));
        ui.note(&format!(
            "  token endpoint: http://{addr}/TENANT/system/oauth2/token, API: http://{addr}/api/hub, OpenAPI: http://{addr}/api/hub/openapi.json; Ctrl-C stops"
        ));
        emulator::serve(listener, emulator.clone(), async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await;
        ui.note("promote serve: stopped; every write in flight was finished");
        Ok::<_, anyhow::Error>(())
    })?;
    Ok(Exit::Ok)
}

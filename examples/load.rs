//! Load generator for the emulator (`promote serve`): a second process on loopback.
//!
//! ```text
//! cargo run --release --example load -- --url http://127.0.0.1:8443 --tenant T \
//!     --client ID:SECRET --tree TENANT.json --op export|patch [--concurrency 32] [--seconds 10]
//! ```
//!
//! Imports the tree (credential fields and `<secret:…>` markers removed, so the emulator
//! generates them) once, then sends `--op` requests from `--concurrency` threads, each with its
//! own keep-alive connection, for `--seconds`, and prints one JSON line: requests, errors,
//! requests/s, p50/p99/max latency in milliseconds, and the body size. `patch` sends RFC 7396
//! patches that each rename one client of the tenant (a real change every time).

use std::error::Error;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

struct Options {
    url: String,
    tenant: String,
    client: (String, String),
    tree: String,
    op: String,
    concurrency: usize,
    seconds: u64,
}

const USAGE: &str = "usage: load --url URL --tenant T --client ID:SECRET --tree FILE --op export|patch [--concurrency N] [--seconds S]";

fn options() -> Result<Options, Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    let (mut url, mut tenant, mut client, mut tree, mut op) = (None, None, None, None, None);
    let (mut concurrency, mut seconds) = (32, 10);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or(format!("{flag} needs a value; {USAGE}"));
        match flag.as_str() {
            "--url" => url = Some(value()?),
            "--tenant" => tenant = Some(value()?),
            "--client" => client = Some(value()?),
            "--tree" => tree = Some(value()?),
            "--op" => op = Some(value()?),
            "--concurrency" => concurrency = value()?.parse()?,
            "--seconds" => seconds = value()?.parse()?,
            other => return Err(format!("unknown argument {other}; {USAGE}").into()),
        }
    }
    let client = client.ok_or(USAGE)?;
    let (id, secret) = client.split_once(':').ok_or("--client is ID:SECRET")?;
    Ok(Options {
        url: url.ok_or(USAGE)?,
        tenant: tenant.ok_or(USAGE)?,
        client: (id.to_owned(), secret.to_owned()),
        tree: tree.ok_or(USAGE)?,
        op: op.ok_or(USAGE)?,
        concurrency,
        seconds,
    })
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

fn token(o: &Options) -> Result<String, Box<dyn Error>> {
    let body: Value = agent()
        .post(&format!("{}/{}/system/oauth2/token", o.url, o.tenant))
        .send_form([
            ("grant_type", "client_credentials"),
            ("client_id", o.client.0.as_str()),
            ("client_secret", o.client.1.as_str()),
        ])?
        .body_mut()
        .read_json()?;
    Ok(body["access_token"]
        .as_str()
        .ok_or(format!("no token: {body}"))?
        .to_owned())
}

/// The first client of the first workspace: what `patch` renames.
fn first_client(tree: &Value) -> Option<(String, String)> {
    let (wid, ws) = tree.get("servers")?.as_object()?.iter().next()?;
    let cid = ws.get("clients")?.as_object()?.keys().next()?;
    Some((wid.clone(), cid.clone()))
}

fn main() -> Result<(), Box<dyn Error>> {
    let o = options()?;
    let mut tree: Value = serde_json::from_str(&std::fs::read_to_string(&o.tree)?)?;
    promote_platform::credentials::strip(&mut tree, promote_platform::credentials::Scope::Tenant);
    let bearer = format!("Bearer {}", token(&o)?);
    let base = format!("{}/api/hub/{}/promote", o.url, o.tenant);
    let setup = agent()
        .post(&format!("{base}/config?mode=update"))
        .header("Authorization", &bearer)
        .header("Content-Type", "application/json")
        .send(serde_json::to_vec(&tree)?)?;
    if setup.status() != 204 {
        let status = setup.status();
        let body = setup.into_body().read_to_string()?;
        return Err(format!("import failed: {status} {body}").into());
    }
    let target = first_client(&tree).ok_or("the tree has no workspace with a client")?;
    let size = agent()
        .get(&format!("{base}/config"))
        .header("Authorization", &bearer)
        .call()?
        .body_mut()
        .read_to_vec()?
        .len();

    let deadline = Instant::now() + Duration::from_secs(o.seconds);
    let started = Instant::now();
    let results: Vec<(Vec<Duration>, usize)> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..o.concurrency)
            .map(|worker| {
                let (bearer, base, target, op) = (&bearer, &base, &target, &o.op);
                s.spawn(move || {
                    let agent = agent();
                    let mut latencies = Vec::new();
                    let mut errors = 0;
                    let mut n = 0u64;
                    while Instant::now() < deadline {
                        n += 1;
                        let t = Instant::now();
                        let ok = if op == "export" {
                            agent
                                .get(&format!("{base}/config"))
                                .header("Authorization", bearer)
                                .call()
                                .ok()
                                .and_then(|mut r| {
                                    let ok = r.status() == 200;
                                    r.body_mut().read_to_vec().ok().map(|_| ok)
                                })
                                .unwrap_or(false)
                        } else {
                            let patch = json!({"servers": {&target.0: {"clients": {&target.1: {
                                "client_name": format!("load {worker}-{n}")
                            }}}}});
                            agent
                                .patch(&format!("{base}/config-rfc7396"))
                                .header("Authorization", bearer)
                                .header("Content-Type", "application/merge-patch+json")
                                .send(patch.to_string())
                                .map(|r| r.status() == 204)
                                .unwrap_or(false)
                        };
                        if ok {
                            latencies.push(t.elapsed());
                        } else {
                            errors += 1;
                        }
                    }
                    (latencies, errors)
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().unwrap_or_default())
            .collect()
    });
    let elapsed = started.elapsed().as_secs_f64();
    let errors: usize = results.iter().map(|r| r.1).sum();
    let mut all: Vec<Duration> = results.into_iter().flat_map(|r| r.0).collect();
    all.sort();
    let pct = |p: f64| {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    println!(
        "{}",
        json!({
            "op": o.op,
            "concurrency": o.concurrency,
            "seconds": (elapsed * 100.0).round() / 100.0,
            "requests": all.len() + errors,
            "errors": errors,
            "requests_per_s": (all.len() as f64 / elapsed).round(),
            "p50_ms": (pct(0.50) * 100.0).round() / 100.0,
            "p99_ms": (pct(0.99) * 100.0).round() / 100.0,
            "max_ms": (all.last().map_or(0.0, |d| d.as_secs_f64() * 1000.0) * 100.0).round() / 100.0,
            "export_bytes": size,
        })
    );
    Ok(())
}

//! TLS verification end to end: `promote serve` behind a TLS-terminating proxy in this test
//! process, with certificates made at test time that no trusted root vouches for (self-signed;
//! for another name; expired). promote must refuse them before it sends a byte of a request
//! (its client secret least of all), and `--insecure` must let it through, with its warning.
//! A certificate signed by a private CA goes through once `target.ca_file` names that CA, and
//! only for the names it signed. Beside that: plain HTTP to an address beyond loopback only
//! with `--insecure`, and never the secret to a token endpoint in clear, `--insecure` or not.
//!
//! The proxy opens its connection to `promote serve` only once a TLS handshake has completed,
//! so "nothing was sent" is checked several ways: the proxy forwarded no byte, `promote serve`
//! logged no request but the test's own, and the tenant exports as before.

use std::cell::Cell;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::{ServerConfig, ServerConnection};
use serde_json::Value;

use crate::remote::{run, saas_env, CLIENT_ID, CLIENT_SECRET};
use crate::support::{Run, Serve, TestRepo};

/// The tenant of these tests, on `promote serve`.
const TID: &str = "globex-tls";

/// What promote says of every refused certificate (`src/client.rs`).
const VERIFIED: &str =
    "(the platform's certificate is verified; --insecure skips that, for a test platform only)";

/// The warning `--insecure` prints (`src/cli/mod.rs`).
const INSECURE_WARNING: &str = "--insecure: the platform's TLS certificate is not verified and plain HTTP is allowed; never use it against production";

/// A certificate and its private key.
type Cert = (CertificateDer<'static>, PrivateKeyDer<'static>);

/// A self-signed certificate and its key, made now, for `names` (DNS names or IP addresses):
/// valid from now on (rcgen's default), or `expired` since 2021.
fn certificate(names: &[&str], expired: bool) -> Cert {
    let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
    let mut params = rcgen::CertificateParams::new(names).unwrap();
    if expired {
        params.not_before = rcgen::date_time_ymd(2020, 1, 1);
        params.not_after = rcgen::date_time_ymd(2021, 1, 1);
    }
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    (cert.der().clone(), key)
}

/// A private certificate authority, as the PEM text of its certificate, and a certificate it
/// signs for `names`, with its key.
fn signed_by_a_private_ca(names: &[&str]) -> (String, Cert) {
    use base64::Engine;
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(rcgen::DnType::CommonName, "promote test CA");
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca, ca_key);
    let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(names)
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap();
    let base64 = base64::engine::general_purpose::STANDARD.encode(ca_cert.der());
    let lines: Vec<&str> = base64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    let pem = format!(
        "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
        lines.join("\n")
    );
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    (pem, (cert.der().clone(), key))
}

/// What the proxy saw.
#[derive(Default)]
struct Stats {
    /// TCP connections accepted.
    accepted: AtomicUsize,
    /// TLS handshakes completed (each then opens a connection to the backend).
    handshakes: AtomicUsize,
    /// Bytes of plaintext forwarded to the backend.
    forwarded: AtomicUsize,
    /// Why handshakes failed, as rustls on this side saw it.
    failures: Mutex<Vec<String>>,
    /// Whether responses pass unchanged, `http://` links to the proxy and all (see
    /// [`relay_responses`]).
    verbatim: AtomicBool,
}

/// A proxy on `IP:PORT` (a loopback address), forwarding to `127.0.0.1:backend`: TLS-terminating
/// with a certificate, or forwarding bytes as they are without. Stops accepting when dropped;
/// a connection ends when either side closes.
struct Proxy {
    addr: SocketAddr,
    stats: Arc<Stats>,
    stop: Arc<AtomicBool>,
    accepter: Option<JoinHandle<()>>,
}

impl Proxy {
    fn start(ip: [u8; 4], cert: Option<Cert>, backend: u16) -> Proxy {
        let config = cert.map(|(cert, key)| {
            // ring: the provider ureq already builds rustls with.
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let config = ServerConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_no_client_auth()
                .with_single_cert(vec![cert], key)
                .unwrap();
            Arc::new(config)
        });
        let listener = TcpListener::bind(SocketAddr::from((ip, 0))).unwrap();
        let addr = listener.local_addr().unwrap();
        let stats = Arc::new(Stats::default());
        let stop = Arc::new(AtomicBool::new(false));
        let accepter = {
            let (stats, stop) = (stats.clone(), stop.clone());
            std::thread::spawn(move || {
                for client in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(client) = client else { continue };
                    stats.accepted.fetch_add(1, Ordering::SeqCst);
                    let (config, stats) = (config.clone(), stats.clone());
                    std::thread::spawn(move || {
                        let _ = match config {
                            Some(config) => proxy(config, client, addr.port(), backend, stats),
                            None => forward(client, backend, &stats),
                        };
                    });
                }
            })
        };
        Proxy {
            addr,
            stats,
            stop,
            accepter: Some(accepter),
        }
    }

    fn port(&self) -> u16 {
        self.addr.port()
    }

    fn accepted(&self) -> usize {
        self.stats.accepted.load(Ordering::SeqCst)
    }

    fn handshakes(&self) -> usize {
        self.stats.handshakes.load(Ordering::SeqCst)
    }

    fn forwarded(&self) -> usize {
        self.stats.forwarded.load(Ordering::SeqCst)
    }

    fn failures(&self) -> Vec<String> {
        self.stats.failures.lock().unwrap().clone()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the accepting thread, which then sees `stop`.
        let _ = TcpStream::connect(self.addr);
        if let Some(accepter) = self.accepter.take() {
            let _ = accepter.join();
        }
    }
}

/// Forwards one connection as it is, both ways.
fn forward(mut client: TcpStream, backend: u16, stats: &Stats) -> io::Result<()> {
    client.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut upstream = TcpStream::connect(("127.0.0.1", backend))?;
    let (mut from, mut to) = (upstream.try_clone()?, client.try_clone()?);
    let back = std::thread::spawn(move || {
        let _ = io::copy(&mut from, &mut to);
        let _ = to.shutdown(Shutdown::Write);
    });
    let mut buf = vec![0; 16 * 1024];
    let result = (|| -> io::Result<()> {
        loop {
            let n = client.read(&mut buf)?;
            if n == 0 {
                return Ok(());
            }
            upstream.write_all(&buf[..n])?;
            stats.forwarded.fetch_add(n, Ordering::SeqCst);
        }
    })();
    let _ = upstream.shutdown(Shutdown::Both);
    let _ = back.join();
    result
}

/// Serves one client connection: the TLS handshake, then (only then) a connection to the
/// backend, and the plaintext copied both ways, this thread client to backend, another back.
fn proxy(
    config: Arc<ServerConfig>,
    mut client: TcpStream,
    port: u16,
    backend: u16,
    stats: Arc<Stats>,
) -> io::Result<()> {
    // No test waits this long: a stuck connection ends its threads instead of hanging them.
    client.set_read_timeout(Some(Duration::from_secs(30)))?;
    client.set_write_timeout(Some(Duration::from_secs(30)))?;
    let mut conn = ServerConnection::new(config).map_err(io::Error::other)?;
    let handshake = (|| -> io::Result<()> {
        while conn.is_handshaking() {
            // On an error, this sends the alert first.
            let (read, _) = conn.complete_io(&mut client)?;
            if read == 0 && conn.is_handshaking() && !conn.wants_write() {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "closed during the handshake",
                ));
            }
        }
        Ok(())
    })();
    if let Err(e) = handshake {
        stats.failures.lock().unwrap().push(e.to_string());
        return Err(e);
    }
    stats.handshakes.fetch_add(1, Ordering::SeqCst);
    let mut upstream = TcpStream::connect(("127.0.0.1", backend))?;
    let conn = Arc::new(Mutex::new(conn));

    // Backend to client: plaintext in, TLS records out (under the lock: both threads write).
    let back = {
        let (conn, from, mut to) = (conn.clone(), upstream.try_clone()?, client.try_clone()?);
        let stats = stats.clone();
        std::thread::spawn(move || {
            let _ = relay_responses(from, port, &stats.verbatim, |bytes| {
                let mut conn = conn.lock().unwrap();
                conn.writer().write_all(bytes)?;
                while conn.wants_write() {
                    conn.write_tls(&mut to)?;
                }
                Ok(())
            });
            let mut conn = conn.lock().unwrap();
            conn.send_close_notify();
            while conn.wants_write() {
                if conn.write_tls(&mut to).is_err() {
                    break;
                }
            }
            let _ = to.shutdown(Shutdown::Write);
        })
    };

    // Client to backend: TLS records in, plaintext out. What came with the end of the
    // handshake is already in `conn`: the first round reads nothing from the socket.
    let mut buf = vec![0; 16 * 1024];
    let mut n = 0;
    let result = (|| -> io::Result<()> {
        loop {
            let mut plain = Vec::new();
            let mut closed = false;
            {
                let mut conn = conn.lock().unwrap();
                let mut records = &buf[..n];
                loop {
                    closed |= drain(&mut conn, &mut plain);
                    if records.is_empty() {
                        break;
                    }
                    conn.read_tls(&mut records)?;
                    let state = conn.process_new_packets().map_err(io::Error::other)?;
                    closed |= state.peer_has_closed();
                }
                while conn.wants_write() {
                    conn.write_tls(&mut client)?;
                }
            }
            if !plain.is_empty() {
                upstream.write_all(&plain)?;
                stats.forwarded.fetch_add(plain.len(), Ordering::SeqCst);
            }
            if closed {
                return Ok(());
            }
            n = client.read(&mut buf)?;
            if n == 0 {
                return Ok(());
            }
        }
    })();
    // Ends the other direction too: the backend sees the end, and its reader returns 0.
    let _ = upstream.shutdown(Shutdown::Both);
    let _ = back.join();
    result
}

/// Moves the plaintext `conn` holds to `plain`; true once the client has closed.
fn drain(conn: &mut ServerConnection, plain: &mut Vec<u8>) -> bool {
    let mut chunk = [0; 16 * 1024];
    loop {
        match conn.reader().read(&mut chunk) {
            Ok(0) => return true,
            Ok(k) => plain.extend_from_slice(&chunk[..k]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return false,
            Err(_) => return true,
        }
    }
}

/// Relays the HTTP/1.1 responses read from `from` to `send` until `from` ends, with the links
/// to the proxy itself made `https://`, as a TLS terminator that tells its backend the scheme
/// would have them: `promote serve` knows only the `Host` it was asked for, and names its
/// token endpoint `http://HOST/...` in its discovery document (promote rightly refuses to
/// send the secret to that from an `https://` target).
fn relay_responses(
    mut from: TcpStream,
    port: u16,
    verbatim: &AtomicBool,
    mut send: impl FnMut(&[u8]) -> io::Result<()>,
) -> io::Result<()> {
    let rewrites: Vec<(Vec<u8>, Vec<u8>)> = ["localhost", "127.0.0.1"]
        .iter()
        .map(|host| {
            (
                format!("http://{host}:{port}/").into_bytes(),
                format!("https://{host}:{port}/").into_bytes(),
            )
        })
        .collect();
    let mut chunk = vec![0; 16 * 1024];
    let mut fill = |buf: &mut Vec<u8>| -> io::Result<bool> {
        let n = from.read(&mut chunk)?;
        buf.extend_from_slice(&chunk[..n]);
        Ok(n > 0)
    };
    let mut buf = Vec::new();
    loop {
        let head_end = loop {
            if let Some(i) = find(&buf, b"\r\n\r\n") {
                break i + 4;
            }
            if !fill(&mut buf)? {
                return send(&buf);
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
        let status: u16 = head
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let is_length = |line: &str| {
            line.split_once(':')
                .filter(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
                .and_then(|(_, v)| v.trim().parse::<usize>().ok())
        };
        let length = match head.split("\r\n").find_map(is_length) {
            Some(n) => n,
            None if status < 200 || status == 204 || status == 304 => 0,
            // Chunked, or to the end: relayed as it comes from here on.
            None => {
                send(&buf)?;
                buf.clear();
                while fill(&mut buf)? {
                    send(&buf)?;
                    buf.clear();
                }
                return Ok(());
            }
        };
        while buf.len() < head_end + length {
            if !fill(&mut buf)? {
                return send(&buf);
            }
        }
        let rest = buf.split_off(head_end + length);
        let mut body = buf[head_end..].to_vec();
        if !verbatim.load(Ordering::SeqCst) {
            for (from, to) in &rewrites {
                body = replace(&body, from, to);
            }
        }
        let head = if body.len() == length {
            head
        } else {
            head.split("\r\n")
                .map(|line| match is_length(line) {
                    Some(_) => format!("content-length: {}", body.len()),
                    None => line.to_owned(),
                })
                .collect::<Vec<_>>()
                .join("\r\n")
        };
        send(head.as_bytes())?;
        send(&body)?;
        buf = rest;
    }
}

/// Where `needle` first occurs in `hay`.
fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// `hay` with every `from` replaced by `to`.
fn replace(hay: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(hay.len());
    let mut rest = hay;
    while let Some(i) = find(rest, from) {
        out.extend_from_slice(&rest[..i]);
        out.extend_from_slice(to);
        rest = &rest[i + from.len()..];
    }
    out.extend_from_slice(rest);
    out
}

/// The test's platform: `promote serve` with one tenant, behind a proxy, and a repository
/// whose `remote` environment targets the proxy.
struct Setup {
    repo: TestRepo,
    serve: Serve,
    proxy: Proxy,
    /// How many times the test exported the tenant itself (straight from `promote serve`).
    exports: Cell<usize>,
}

impl Setup {
    /// Behind a TLS proxy with `cert` on 127.0.0.1; `url` is target.url, where `{port}`
    /// stands for the proxy's port.
    fn new(cert: Cert, url: &str) -> Setup {
        Setup::behind([127, 0, 0, 1], Some(cert), url)
    }

    /// Behind a proxy on `ip`, TLS-terminating with `cert`, plain without.
    fn behind(ip: [u8; 4], cert: Option<Cert>, url: &str) -> Setup {
        let (repo, _) = TestRepo::example_in_git();
        let serve = Serve::start(&format!("{TID}:{CLIENT_ID}:{CLIENT_SECRET}"), &[]);
        let proxy = Proxy::start(ip, cert, serve.port);
        let url = url.replace("{port}", &proxy.port().to_string());
        repo.write(
            "environments/remote.yaml",
            &saas_env(&url, &[("globex".into(), TID.into())]),
        );
        Setup {
            repo,
            serve,
            proxy,
            exports: Cell::new(0),
        }
    }

    /// The tenant as `promote serve` holds it, read there directly (not through the proxy).
    fn export(&self) -> Value {
        self.exports.set(self.exports.get() + 1);
        self.serve.export(TID, CLIENT_ID, CLIENT_SECRET, false)
    }

    /// The requests `promote serve` logged, once its log shows the test's last export (the
    /// log is read by a thread of its own, so it may lag).
    fn requests(&self) -> Vec<String> {
        let export = format!("method=GET path=\"/api/hub/{TID}/promote/config\"");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let requests: Vec<String> = self
                .serve
                .log()
                .lines()
                .filter(|l| l.contains(" path=\""))
                .map(str::to_owned)
                .collect();
            let exports = requests.iter().filter(|l| l.contains(&export)).count();
            if exports >= self.exports.get() || Instant::now() > deadline {
                return requests;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Asserts that `promote serve` got only the test's own requests: per export, a token
    /// and the export itself, and nothing else (promote starts with the discovery document).
    fn only_own_requests(&self, run: &Run) {
        let token = format!("method=POST path=\"/{TID}/system/oauth2/token\" status=200");
        let export = format!("method=GET path=\"/api/hub/{TID}/promote/config\" status=200");
        let requests = self.requests();
        let own = |l: &&String| l.contains(&token) || l.contains(&export);
        assert_eq!(
            requests.iter().filter(own).count(),
            2 * self.exports.get(),
            "{run}\n{}",
            self.serve.log()
        );
        assert!(
            requests.iter().all(|l| own(&l)),
            "{run}\n{}",
            self.serve.log()
        );
    }

    fn run(&self, args: &[&str]) -> Run {
        run(&self.repo, args, CLIENT_SECRET, &[])
    }

    /// Runs `args` and asserts that promote refused the certificate and sent nothing: exit 1,
    /// a TLS message with `reason`, no secret, no retries, no byte past the handshake, no
    /// request at `promote serve`, the tenant as it was, no state and no backup. Returns the
    /// run.
    fn refused(&self, args: &[&str], reason: &str) -> Run {
        let before = self.export();
        let accepted = self.proxy.accepted();
        let refused = self.run(args);
        refused
            .code(1)
            .shows(&format!(
                "GET /{TID}/system/.well-known/openid-configuration failed: TLS: "
            ))
            .shows(reason)
            .shows(VERIFIED)
            .never_shows("attempts")
            .never_shows(CLIENT_SECRET)
            .never_shows(INSECURE_WARNING);
        // It did try: a connection reached the proxy, whose handshake it then broke off.
        assert!(self.proxy.accepted() > accepted, "{refused}");
        assert_eq!(self.proxy.handshakes(), 0, "{refused}");
        assert_eq!(self.proxy.forwarded(), 0, "{refused}");
        assert_eq!(self.export(), before, "{refused}");
        self.only_own_requests(&refused);
        assert!(self.repo.state_commits().is_empty(), "{refused}");
        assert!(
            self.repo.backups("remote", "globex").is_empty(),
            "{refused}"
        );
        refused
    }
}

#[test]
fn a_self_signed_certificate_is_refused_and_nothing_is_sent() {
    let s = Setup::new(
        certificate(&["localhost", "127.0.0.1"], false),
        "https://localhost:{port}",
    );
    let plan = s.refused(&["plan", "--env", "remote"], "UnknownIssuer");
    let apply = s.refused(&["apply", "--env", "remote", "--yes"], "UnknownIssuer");
    // The request that failed is the first one, the discovery document: the secret would have
    // gone with the next.
    for run in [&plan, &apply] {
        run.never_shows("oauth2/token");
    }
    // The proxy's side of it: every connection promote opened ended in the handshake.
    let deadline = Instant::now() + Duration::from_secs(10);
    while s.proxy.failures().len() < s.proxy.accepted() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(s.proxy.failures().len(), s.proxy.accepted());
}

#[test]
fn insecure_goes_through_the_same_proxy_with_its_warning() {
    let s = Setup::new(
        certificate(&["localhost", "127.0.0.1"], false),
        "https://localhost:{port}",
    );
    let before = s.export();
    let plan = s.run(&["--insecure", "plan", "--env", "remote"]);
    plan.success()
        .stderr_contains(INSECURE_WARNING)
        .never_shows(CLIENT_SECRET)
        .never_shows("failed: TLS");
    assert!(s.proxy.handshakes() > 0, "{plan}");
    assert!(s.proxy.forwarded() > 0, "{plan}");
    assert_eq!(s.export(), before, "a plan changed the tenant:\n{plan}");

    let apply = s.run(&["--insecure", "apply", "--env", "remote", "--yes"]);
    apply
        .success()
        .stderr_contains(INSECURE_WARNING)
        .never_shows(CLIENT_SECRET)
        .never_shows("failed: TLS");
    // Through the proxy to the platform: the tenant changed there, and apply recorded it.
    assert_ne!(s.export(), before, "{apply}");
    assert!(
        s.serve.changing_writes().get(TID).is_some_and(|&n| n > 0),
        "{}",
        s.serve.log()
    );
    assert_eq!(s.repo.state_commits().len(), 1, "{apply}");
    // And once verification is back on, the same platform is refused again.
    s.run(&["plan", "--env", "remote"])
        .code(1)
        .shows("UnknownIssuer")
        .shows(VERIFIED);
}

#[test]
fn a_certificate_for_another_host_is_refused() {
    // Self-signed too: no trusted root vouches for any certificate a test can make, so the
    // issuer is what fails first; the point is that the wrong name gets no pass either.
    let s = Setup::new(
        certificate(&["other.example"], false),
        "https://localhost:{port}",
    );
    s.refused(&["plan", "--env", "remote"], "UnknownIssuer");
    s.refused(&["apply", "--env", "remote", "--yes"], "UnknownIssuer");
    // By address rather than name, too.
    let s = Setup::new(
        certificate(&["other.example"], false),
        "https://127.0.0.1:{port}",
    );
    s.refused(&["apply", "--env", "remote", "--yes"], "UnknownIssuer");
}

#[test]
fn an_expired_certificate_is_refused() {
    let s = Setup::new(
        certificate(&["localhost", "127.0.0.1"], true),
        "https://localhost:{port}",
    );
    // webpki checks the dates of the certificate before it looks for its issuer.
    s.refused(&["plan", "--env", "remote"], "expired");
    s.refused(&["apply", "--env", "remote", "--yes"], "expired");
}

#[test]
fn plain_http_beyond_loopback_needs_insecure() {
    // `remote::plain_http_beyond_loopback_is_refused` refuses a host name that does not even
    // resolve; here a platform listens, at 127.0.0.2: loopback to Linux, but not one of the
    // names promote lets credentials go to in clear (127.0.0.1, localhost, [::1]).
    if TcpListener::bind("127.0.0.2:0").is_err() {
        eprintln!("skipped: this system does not route 127.0.0.2 to loopback");
        return;
    }
    let s = Setup::behind([127, 0, 0, 2], None, "http://127.0.0.2:{port}");
    let url = format!("http://127.0.0.2:{}", s.proxy.port());
    let before = s.export();
    for args in [
        &["plan", "--env", "remote"][..],
        &["apply", "--env", "remote", "--yes"],
    ] {
        let refused = s.run(args);
        refused
            .code(1)
            .stderr_contains(&format!(
                "{url} is plain HTTP: credentials would cross the network in clear; use https:// (or --insecure for a test platform)"
            ))
            .never_shows(CLIENT_SECRET);
        // Refused before a connection: nothing reached the platform, not even a discovery.
        assert_eq!(s.proxy.accepted(), 0, "{refused}");
        assert_eq!(s.export(), before, "{refused}");
        s.only_own_requests(&refused);
    }
    assert!(s.repo.state_commits().is_empty());

    // --insecure lets it through, with its warning.
    let apply = s.run(&["--insecure", "apply", "--env", "remote", "--yes"]);
    apply
        .success()
        .stderr_contains(INSECURE_WARNING)
        .never_shows(CLIENT_SECRET);
    assert!(s.proxy.forwarded() > 0, "{apply}");
    assert_ne!(s.export(), before, "{apply}");
    assert_eq!(s.repo.state_commits().len(), 1, "{apply}");
}

#[test]
fn a_token_endpoint_in_clear_gets_no_secret_even_with_insecure() {
    // The proxy passes the discovery document as `promote serve` writes it: its token
    // endpoint is `http://localhost:PORT/...`, TLS stripped off the platform's own origin.
    let s = Setup::new(
        certificate(&["localhost", "127.0.0.1"], false),
        "https://localhost:{port}",
    );
    s.proxy.stats.verbatim.store(true, Ordering::SeqCst);
    let port = s.proxy.port();
    let before = s.export();
    let refused = s.run(&["--insecure", "apply", "--env", "remote", "--yes"]);
    refused
        .code(1)
        .stderr_contains(INSECURE_WARNING)
        .shows(&format!(
            "POST token endpoint of tenant {TID}: the discovery document names the token endpoint http://localhost:{port}/{TID}/system/oauth2/token, which is not on https://localhost:{port}; the client secret was not sent there"
        ))
        .never_shows(CLIENT_SECRET);
    // It read the discovery document through TLS, and sent nothing after it: the token
    // requests `promote serve` got are the test's own exports', and a request in clear to the
    // proxy's port would have failed there as a handshake.
    assert_eq!(s.export(), before, "{refused}");
    let requests = s.requests();
    let discovery = format!("GET path=\"/{TID}/system/.well-known/openid-configuration\"");
    assert!(
        requests.iter().any(|l| l.contains(&discovery)),
        "{refused}\n{}",
        s.serve.log()
    );
    let token = format!("POST path=\"/{TID}/system/oauth2/token\"");
    assert_eq!(
        requests.iter().filter(|l| l.contains(&token)).count(),
        s.exports.get(),
        "{refused}\n{}",
        s.serve.log()
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while s.proxy.handshakes() + s.proxy.failures().len() < s.proxy.accepted()
        && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(s.proxy.failures(), Vec::<String>::new(), "{refused}");
    assert!(s.repo.state_commits().is_empty(), "{refused}");
}

#[test]
fn a_private_ca_named_by_ca_file_is_trusted_and_the_name_still_checked() {
    let (ca, cert) = signed_by_a_private_ca(&["localhost"]);
    let s = Setup::new(cert, "https://localhost:{port}");
    // Not a public CA: refused as any unknown issuer.
    s.refused(&["plan", "--env", "remote"], "UnknownIssuer");
    // Trusted through target.ca_file (committed: a CA certificate is public)...
    s.repo.write("certs/platform-ca.pem", &ca);
    let env = s.repo.read("environments/remote.yaml");
    let with_ca = env.replace(
        "  client_id_env:",
        "  ca_file: certs/platform-ca.pem\n  client_id_env:",
    );
    // ... but only for the names it signed: 127.0.0.1 is not one of them.
    let port = s.proxy.port().to_string();
    s.repo.write(
        "environments/remote.yaml",
        &with_ca.replace(
            &format!("https://localhost:{port}"),
            &format!("https://127.0.0.1:{port}"),
        ),
    );
    s.refused(
        &["plan", "--env", "remote"],
        "certificate not valid for name \"127.0.0.1\"",
    );
    s.repo.write("environments/remote.yaml", &with_ca);
    s.run(&["apply", "--env", "remote", "--yes"])
        .success()
        .never_shows(INSECURE_WARNING)
        .never_shows(CLIENT_SECRET);
    assert!(s.proxy.handshakes() > 0);
    assert_eq!(s.repo.state_commits().len(), 1);
    s.run(&["plan", "--env", "remote", "--detailed-exitcode"])
        .success();
    // A ca_file that is not there, or holds no certificate, is an error at its line.
    s.repo.write("certs/platform-ca.pem", "not a certificate\n");
    s.run(&["plan", "--env", "remote"])
        .code(1)
        .shows("environments/remote.yaml:3:3: target.ca_file certs/platform-ca.pem: it holds no PEM certificate");
    s.repo.remove("certs/platform-ca.pem");
    s.run(&["plan", "--env", "remote"])
        .code(1)
        .shows("target.ca_file certs/platform-ca.pem: cannot read it");
}

/// Threat model: in a pull request's plan, the work tree is the pull request's. A pull request
/// that swaps the CA certificate its base names (here for one that signs the interceptor's
/// certificate) changes nothing: `promote ci` reads the CA from the base commit, refuses the
/// certificate, and sends nothing.
#[test]
fn a_pull_request_cannot_swap_the_ca_that_ci_trusts() {
    let (theirs, cert) = signed_by_a_private_ca(&["localhost"]);
    let (ours, _) = signed_by_a_private_ca(&["localhost"]);
    let s = Setup::new(cert, "https://localhost:{port}");
    s.repo.write("certs/platform-ca.pem", &ours);
    let env = s.repo.read("environments/remote.yaml");
    s.repo.write(
        "environments/remote.yaml",
        &env.replace(
            "  client_id_env:",
            "  ca_file: certs/platform-ca.pem\n  client_id_env:",
        ),
    );
    let base = s.repo.commit("the platform's CA");
    s.repo.write("certs/platform-ca.pem", &theirs);
    s.repo
        .edit("environments/remote.yaml", "seats: ", "seats: 1");
    let head = s.repo.commit("a pull request");
    s.refused(
        &["ci", "--base", &base, "--head", &head, "--env", "remote"],
        "invalid peer certificate",
    );
}

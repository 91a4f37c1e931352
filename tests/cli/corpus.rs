//! The bad-input corpus: every file of `tests/corpus/` is one case of hostile or broken input
//! (templates, environment files, YAML directories, baselines given to `diff` and `plan`, and
//! answers of a platform), the command to run on it, the exit code it must give and the words
//! its messages must contain. One test runs them all against the real binary and checks, for
//! every case, that nothing panicked (the harness checks that on every run) and that nothing
//! was applied: the fake platform received no write, and the embedded emulator holds nothing.
//!
//! A case is a YAML document:
//!
//! ```yaml
//! about: one sentence on what is wrong
//! base: example          # or `empty`: the repository the case starts from
//! files: { PATH: TEXT }  # written over it
//! remove: [PATH]         # removed from it
//! repeat: { PATH: { before: "", text: "[", times: 100000, then: "" } }   # large files
//! git: true              # commit the repository before the run (for rev: baselines)
//! platform:              # a fake platform on loopback, targeted by environments/fake.yaml
//!   export: { status: 200, body: "...", repeat: { text: "[", times: 100000 }, content_length: N }
//!   token: { status: 200, body: "..." }
//!   discovery: { status: 200, body: "..." }
//! args: [plan, --env, fake]
//! exit: 1
//! says: [words, ...]     # each in stdout or stderr
//! never: [words, ...]    # none in stdout or stderr (a credential the input holds)
//! absent: [PATH]         # must not exist after the run
//! ```

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use serde_json::Value;

use crate::support::TestRepo;

const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/corpus");

/// The client the fake platform accepts (any secret: it is not checked).
const CLIENT: [(&str, &str); 2] = [
    ("PROMOTE_FAKE_CLIENT_ID", "corpus-client"),
    (
        "PROMOTE_FAKE_CLIENT_SECRET",
        "corpus-secret-Qm3-never-shown",
    ),
];

/// One canned answer of the fake platform.
#[derive(Debug, Clone, Default)]
struct Answer {
    status: u16,
    body: Vec<u8>,
    /// A Content-Length to claim instead of the body's.
    content_length: Option<u64>,
    content_type: String,
}

impl Answer {
    fn json(body: &str) -> Answer {
        Answer {
            status: 200,
            body: body.as_bytes().to_vec(),
            content_length: None,
            content_type: "application/json".into(),
        }
    }

    /// The answer a case describes, over `default`.
    fn from_case(spec: Option<&Value>, default: Answer) -> Answer {
        let Some(spec) = spec else { return default };
        let mut a = default;
        if let Some(s) = spec.get("status").and_then(Value::as_u64) {
            a.status = s as u16;
        }
        if let Some(b) = spec.get("body").and_then(Value::as_str) {
            a.body = b.as_bytes().to_vec();
        }
        if let Some(r) = spec.get("repeat") {
            a.body = repeated(r).into_bytes();
        }
        if let Some(n) = spec.get("content_length").and_then(Value::as_u64) {
            a.content_length = Some(n);
        }
        if let Some(t) = spec.get("content_type").and_then(Value::as_str) {
            a.content_type = t.to_owned();
        }
        a
    }
}

/// `{before, text, times, then}`: `before`, `text` repeated, then `then`.
fn repeated(spec: &Value) -> String {
    let text = spec["text"].as_str().unwrap_or_default();
    let times = spec["times"].as_u64().unwrap_or(1) as usize;
    let mut out = spec["before"].as_str().unwrap_or_default().to_owned();
    out.push_str(&text.repeat(times));
    out.push_str(spec["then"].as_str().unwrap_or_default());
    out
}

/// A platform on loopback that answers discovery, token and export with canned answers and
/// counts every write it is sent (and answers them 204).
struct FakePlatform {
    url: String,
    writes: Arc<AtomicUsize>,
}

impl FakePlatform {
    fn start(export: Answer, token: Answer, discovery: Answer) -> FakePlatform {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let writes = Arc::new(AtomicUsize::new(0));
        let counted = writes.clone();
        let base = url.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let (export, token, discovery) = (export.clone(), token.clone(), discovery.clone());
                let (counted, base) = (counted.clone(), base.clone());
                std::thread::spawn(move || {
                    serve(stream, &base, &export, &token, &discovery, &counted);
                });
            }
        });
        FakePlatform { url, writes }
    }
}

/// Answers the one request of a connection (every answer says `Connection: close`).
fn serve(
    stream: TcpStream,
    base: &str,
    export: &Answer,
    token: &Answer,
    discovery: &Answer,
    writes: &AtomicUsize,
) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut out = stream;
    {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or_default().to_owned();
        let path = parts.next().unwrap_or_default().to_owned();
        let mut length = 0usize;
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header).unwrap_or(0) == 0 {
                return;
            }
            if header.trim().is_empty() {
                break;
            }
            if let Some((k, v)) = header.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let tid = path
            .trim_start_matches('/')
            .split('/')
            .next()
            .unwrap_or("t");
        let discovered;
        let answer = if path.contains("/.well-known/openid-configuration") {
            if discovery.body.is_empty() {
                discovered = Answer::json(&format!(
                    r#"{{"issuer":"{base}/{tid}/system","token_endpoint":"{base}/{tid}/system/oauth2/token"}}"#
                ));
                &discovered
            } else {
                discovery
            }
        } else if path.contains("/oauth2/token") {
            token
        } else if method == "GET" && path.contains("/promote/config") {
            export
        } else {
            writes.fetch_add(1, Ordering::SeqCst);
            discovered = Answer {
                status: 204,
                ..Answer::default()
            };
            &discovered
        };
        let length = answer.content_length.unwrap_or(answer.body.len() as u64);
        let head = format!(
            "HTTP/1.1 {} X\r\nContent-Type: {}\r\nContent-Length: {length}\r\nConnection: close\r\n\r\n",
            answer.status, answer.content_type
        );
        let _ = out.write_all(head.as_bytes());
        let _ = out.write_all(&answer.body);
        let _ = out.flush();
    }
}

/// `environments/fake.yaml`: one saas tenant of the example on the fake platform at `url`.
fn fake_environment(url: &str) -> String {
    format!(
        "target:\n  url: {url}\n  client_id_env: PROMOTE_FAKE_CLIENT_ID\n  client_secret_env: PROMOTE_FAKE_CLIENT_SECRET\n  concurrency: 2\nvars:\n  platform_url: {url}\n  domain: fake.test\n  dev_port: 0\n  locale: en-US\n  ttl: {{ access_token: 1h0m0s, id_token: 1h0m0s, refresh_token: 24h0m0s, authorization_code: 10m0s, cookie: 24h0m0s, mfa_session: 1h0m0s }}\n  password: {{ min_length: 8, history: 0 }}\n  mfa: {{ enforce: false }}\n  features: {{ organizations: true, passkeys: true, webhooks: true, device_flow: true, dpop: false }}\n  webhooks: {{ insecure: true }}\n  saas: {{ app_domain: app.fake.test }}\ntenants:\n  globex: {{ template: saas, id: globex-fake, vars: {{ customer_name: Globex, plan: gold, domain: globex.test, brand_color: \"#0B5FFF\", seats: 5 }} }}\n"
    )
}

/// Runs one case; returns what went wrong, if anything.
fn run_case(name: &str, case: &Value) -> Result<(), String> {
    let repo = match case["base"].as_str().unwrap_or("example") {
        "empty" => TestRepo::empty(),
        _ => TestRepo::example(),
    };
    for (path, text) in case["files"].as_object().into_iter().flatten() {
        repo.write(path, text.as_str().ok_or("files: texts only")?);
    }
    for (path, spec) in case["repeat"].as_object().into_iter().flatten() {
        repo.write(path, &repeated(spec));
    }
    for path in case["remove"].as_array().into_iter().flatten() {
        repo.remove(path.as_str().ok_or("remove: paths only")?);
    }
    let platform = case.get("platform").map(|p| {
        let export = Answer::from_case(p.get("export"), Answer::json("{}"));
        let token = Answer::from_case(
            p.get("token"),
            Answer::json(
                r#"{"access_token":"fake-token","token_type":"Bearer","expires_in":3600}"#,
            ),
        );
        let discovery = Answer::from_case(p.get("discovery"), Answer::default_discovery());
        let fake = FakePlatform::start(export, token, discovery);
        repo.write("environments/fake.yaml", &fake_environment(&fake.url));
        fake
    });
    if case["git"].as_bool() == Some(true) {
        repo.git_init();
        repo.commit("corpus case");
    }
    let args: Vec<String> = case["args"]
        .as_array()
        .ok_or("args: a list")?
        .iter()
        .map(|a| {
            a.as_str()
                .map(str::to_owned)
                .or_else(|| Some(a.to_string()))
                .unwrap_or_default()
        })
        .collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut envs: Vec<(&str, &str)> = CLIENT.to_vec();
    let extra: Vec<(String, String)> = case["env"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
        .collect();
    envs.extend(extra.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let run = repo.run_env(&args, &envs);
    let output = format!("{}\n{}", run.stdout, run.stderr);
    let mut problems = Vec::new();
    let exit = case["exit"].as_i64().ok_or("exit: a number")? as i32;
    if run.code != exit {
        problems.push(format!("exit {} (expected {exit})", run.code));
    }
    for word in case["says"].as_array().into_iter().flatten() {
        let word = word.as_str().ok_or("says: texts only")?;
        if !output.contains(word) {
            problems.push(format!("does not say {word:?}"));
        }
    }
    for word in case["never"].as_array().into_iter().flatten() {
        let word = word.as_str().ok_or("never: texts only")?;
        if output.contains(word) {
            problems.push(format!("says {word:?}"));
        }
    }
    for path in case["absent"].as_array().into_iter().flatten() {
        let path = path.as_str().ok_or("absent: paths only")?;
        if repo.join(path).exists() || Path::new(path).is_absolute() && Path::new(path).exists() {
            problems.push(format!("{path} exists"));
        }
    }
    if output.contains(CLIENT[1].1) {
        problems.push("shows the client secret".into());
    }
    if let Some(fake) = &platform {
        let writes = fake.writes.load(Ordering::SeqCst);
        if writes > 0 {
            problems.push(format!("the platform received {writes} write(s)"));
        }
    }
    let applied = repo.join(".promote/emulator/tenants");
    if applied.is_dir() && std::fs::read_dir(&applied).map(|d| d.count()).unwrap_or(0) > 0 {
        problems.push("the embedded emulator holds a tenant".into());
    }
    // `PROMOTE_CORPUS_SHOW=1 cargo test corpus -- --nocapture` prints what every case says.
    if std::env::var_os("PROMOTE_CORPUS_SHOW").is_some() {
        eprintln!("== {name}: promote {}\n{}", args.join(" "), output.trim());
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{name}: {}\n  promote {}\n{}",
            problems.join("; "),
            args.join(" "),
            output
                .lines()
                .take(30)
                .map(|l| format!("  | {l}"))
                .collect::<Vec<_>>()
                .join("\n")
        ))
    }
}

impl Answer {
    /// Discovery is built per request from the request's tenant unless a case replaces it.
    fn default_discovery() -> Answer {
        Answer {
            status: 200,
            content_type: "application/json".into(),
            ..Answer::default()
        }
    }
}

/// The cases, by file name.
fn cases() -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(CORPUS).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("yaml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let case = promote_lib::yaml::parse(&text, &name).unwrap_or_else(|d| panic!("{d}"));
        out.insert(name, case);
    }
    out
}

#[test]
fn every_bad_input_is_refused_clearly_and_changes_nothing() {
    let cases = cases();
    assert!(cases.len() >= 40, "the corpus has {} cases", cases.len());
    let names: Vec<&String> = cases.keys().collect();
    // The cases run on a few threads: each starts the binary and maybe a fake platform.
    let failures = std::sync::Mutex::new(Vec::new());
    let next = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(name) = names.get(i) else { break };
                let result = std::panic::catch_unwind(|| run_case(name, &cases[*name]))
                    .unwrap_or_else(|p| {
                        Err(format!(
                            "{name}: {}",
                            p.downcast_ref::<String>()
                                .cloned()
                                .or_else(|| p.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                                .unwrap_or_default()
                        ))
                    });
                if let Err(e) = result {
                    failures.lock().unwrap().push(e);
                }
            });
        }
    });
    let failures = failures.into_inner().unwrap();
    assert!(
        failures.is_empty(),
        "{} of {} corpus cases failed:\n\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n\n")
    );
}

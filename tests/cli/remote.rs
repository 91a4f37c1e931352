//! `promote apply` and `plan` against a platform at a URL: `promote serve` in a child process,
//! with client credentials from the environment, secrets from `PROMOTE_SECRET_*`, injected
//! faults, and the ways a connection fails.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;

use serde_json::{json, Value};

use crate::support::{outcomes, report_tenant, strings, Serve, TestRepo};

pub const CLIENT_ID: &str = "ci";
pub const CLIENT_SECRET: &str = "client-secret-Vq81-never-printed";

/// The client credentials promote reads, as the environment files below name them.
fn credentials(secret: &str) -> [(&'static str, String); 2] {
    [
        ("PROMOTE_CLIENT_ID", CLIENT_ID.to_owned()),
        ("PROMOTE_CLIENT_SECRET", secret.to_owned()),
    ]
}

fn target(url: &str) -> String {
    format!(
        "target:\n  url: \"{url}\"\n  client_id_env: PROMOTE_CLIENT_ID\n  client_secret_env: PROMOTE_CLIENT_SECRET\n"
    )
}

/// `n` saas tenants, `(KEY000, ID-000)` onwards, and the `promote serve` clients (one per
/// tenant, all [`CLIENT_ID`] with [`CLIENT_SECRET`]).
pub fn saas_fleet(key: &str, id: &str, n: usize) -> (Vec<(String, String)>, String) {
    let tenants: Vec<(String, String)> = (0..n)
        .map(|i| (format!("{key}{i:03}"), format!("{id}-{i:03}")))
        .collect();
    let clients: Vec<String> = tenants
        .iter()
        .map(|(_, id)| format!("{id}:{CLIENT_ID}:{CLIENT_SECRET}"))
        .collect();
    (tenants, clients.join(","))
}

/// An environment of saas tenants `(key, id)` on the platform at `url`.
pub fn saas_env(url: &str, tenants: &[(String, String)]) -> String {
    let mut text = target(url);
    text.push_str(
        "vars:\n  platform_url: https://fleet.test\n  domain: fleet.test\n  dev_port: 0\n  locale: en-US\n  ttl: {access_token: 10m0s, id_token: 10m0s, refresh_token: 24h0m0s, authorization_code: 1m0s, mfa_session: 1h0m0s}\n  password: {min_length: 10, history: 3}\n  saas: {app_domain: app.fleet.test}\ntenants:\n",
    );
    for (i, (key, id)) in tenants.iter().enumerate() {
        let plan = if i % 2 == 0 { "gold" } else { "silver" };
        text.push_str(&format!(
            "  {key}: {{template: saas, id: {id}, vars: {{customer_name: Customer {i}, plan: {plan}, domain: {key}.example.test, brand_color: \"#0000FF\", seats: {}}}}}\n",
            i + 1
        ));
    }
    text
}

/// `environments/local.yaml` with its acme tenant only, as tenant `id` on the platform at `url`.
pub fn acme_env(repo: &TestRepo, url: &str, id: &str) -> String {
    let local = repo.read("environments/local.yaml");
    let start = local.find("vars:\n").unwrap();
    let end = local.find("  globex:\n").unwrap();
    let body = &local[start..end];
    assert!(body.contains("  acme:\n    id: acme-local\n"), "{body}");
    format!(
        "{}{}",
        target(url),
        body.replace("id: acme-local", &format!("id: {id}"))
    )
}

/// Runs promote in `repo` with the client credentials and `extra` variables.
pub fn run(
    repo: &TestRepo,
    args: &[&str],
    secret: &str,
    extra: &[(&str, &str)],
) -> crate::support::Run {
    let creds = credentials(secret);
    let mut envs: Vec<(&str, &str)> = creds.iter().map(|(k, v)| (*k, v.as_str())).collect();
    envs.extend_from_slice(extra);
    repo.run_env(args, &envs)
}

/// Returns `tree` without what the platform generates itself (signing keys, workspace secrets
/// and salts, client secrets): what is left is what promote sent.
pub fn without_generated(tree: &Value) -> Value {
    let mut tree = tree.clone();
    if let Value::Object(t) = &mut tree {
        t.remove("jwks");
        if let Some(Value::Object(servers)) = t.get_mut("servers") {
            for ws in servers.values_mut() {
                let Value::Object(ws) = ws else { continue };
                for key in ["jwks", "secret", "subject_identifier_algorithm_salt"] {
                    ws.remove(key);
                }
                if let Some(Value::Object(clients)) = ws.get_mut("clients") {
                    for c in clients.values_mut() {
                        if let Value::Object(c) = c {
                            c.remove("client_secret");
                        }
                    }
                }
            }
        }
    }
    tree
}

#[test]
fn fifty_tenants_through_faults() {
    let repo = TestRepo::example();
    repo.git_init();
    let (tenants, clients) = saas_fleet("c", "fleet", 50);
    let data = repo.join(".serve");
    let serve = Serve::start(
        &clients,
        &[
            "--data",
            data.to_str().unwrap(),
            "--fault",
            "500=0.15",
            "--fault",
            "429=0.1",
            "--fault",
            "forbidden=0.1",
            "--fault",
            "drop=0.1",
            "--fault",
            "latency=5ms",
            "--seed",
            "3",
        ],
    );
    repo.write("environments/fleet.yaml", &saas_env(&serve.url, &tenants));
    let head = repo.commit("a fleet of 50 saas tenants");

    // With a third of the answers errors, a request can still fail its 8 attempts now and
    // then (p ≈ 0.35^8 per request): then its tenant fails alone, and apply is run again, as
    // the message says. What was applied is never applied again.
    let apply = || {
        run(
            &repo,
            &["--output", "json", "apply", "--env", "fleet", "--yes"],
            CLIENT_SECRET,
            &[],
        )
    };
    let mut applied_by: BTreeMap<String, usize> = BTreeMap::new();
    let mut failed: Vec<String> = Vec::new();
    let mut runs = 0;
    loop {
        let r = apply();
        let report = r.stdout_json();
        for t in report["tenants"].as_array().unwrap() {
            let key = t["key"].as_str().unwrap().to_owned();
            match t["outcome"].as_str().unwrap() {
                "applied" => {
                    let before = applied_by.insert(key.clone(), runs);
                    assert!(before.is_none(), "{key} applied twice:\n{r}");
                }
                // Applied by an earlier run; or failed by one although its change took (the
                // check after the write ran out of attempts): nothing left to send.
                "unchanged" => assert!(
                    applied_by.contains_key(&key) || failed.contains(&key),
                    "{key} unchanged:\n{r}"
                ),
                "failed" => {
                    let message = t["errors"][0]["message"].as_str().unwrap();
                    assert!(message.contains("(after 8 attempts)"), "{key}: {message}");
                    failed.push(key);
                }
                other => panic!("{key}: outcome {other}:\n{r}"),
            }
        }
        runs += 1;
        if r.code == 0 {
            break;
        }
        r.code(1);
        assert!(runs < 4, "apply failed {runs} times:\n{r}");
    }
    for (key, _) in &tenants {
        assert!(
            applied_by.contains_key(key) || failed.contains(key),
            "{key} was never applied"
        );
    }
    assert!(applied_by.len() >= 40, "{applied_by:?}");
    // The faults were there: every kind of error answer was served (and retried).
    let log = serve.log();
    for status in ["status=500", "status=429", "status=403"] {
        assert!(log.contains(status), "no {status} in the emulator's log");
    }

    let plan = || {
        run(
            &repo,
            &[
                "--output",
                "json",
                "plan",
                "--env",
                "fleet",
                "--detailed-exitcode",
            ],
            CLIENT_SECRET,
            &[],
        )
    };
    let mut planned = plan();
    for _ in 0..3 {
        if planned.code == 0 {
            break;
        }
        // Only a request out of attempts may fail a plan.
        planned.code(1).stderr_contains("(after 8 attempts)");
        planned = plan();
    }
    planned.success();
    let report = planned.stdout_json();
    assert_eq!(report["summary"]["unchanged"], 50, "{planned}");

    // Each tenant holds exactly what was rendered: nothing missing, nothing applied twice
    // (an array appended to twice, an entry created twice).
    repo.run(&["render", "--env", "fleet", "--out", "rendered"])
        .success();
    for (key, id) in &tenants {
        let stored = repo.json(&format!(".serve/tenants/{id}.json"));
        let rendered = repo.json(&format!("rendered/{key}.json"));
        let sent = without_generated(&stored);
        assert!(
            sent == rendered,
            "{id} differs from the render at {:?}",
            crate::support::differences(&sent, &rendered)
        );
    }
    let commits = repo.state_commits();
    assert!(
        (1..=runs).contains(&commits.len()),
        "one state commit per apply that applied"
    );
    let files = repo.state_files();
    assert_eq!(files.len(), 50);
    assert!(files.values().all(|f| f["source_commit"] == head.as_str()));

    // Again: nothing to send, nothing recorded.
    let again = apply();
    if again.code == 0 {
        assert!(outcomes(&again.stdout_json())
            .iter()
            .all(|(_, o)| o == "unchanged"));
    } else {
        again.code(1).stderr_contains("(after 8 attempts)");
        assert!(outcomes(&again.stdout_json())
            .iter()
            .all(|(_, o)| o == "unchanged" || o == "failed"));
    }
    assert_eq!(repo.state_commits(), commits);
}

/// The secrets the acme template names, each with a distinctive value.
pub const SECRETS: [(&str, &str, &str); 5] = [
    (
        "PROMOTE_SECRET_ACME_ENTRA_SECRET",
        "entra-9Fq2-SHOULD-NEVER-SHOW",
        "/servers/workforce/idps/entra-id/credentials/azure/client_secret",
    ),
    (
        "PROMOTE_SECRET_ACME_GOOGLE_SECRET",
        "google-4Kx7-SHOULD-NEVER-SHOW",
        "/servers/default/idps/google/credentials/google/client_secret",
    ),
    (
        "PROMOTE_SECRET_ACME_WEBHOOK_KEY",
        "webhook-1Zp8-SHOULD-NEVER-SHOW",
        "/servers/default/webhooks/crm-events/api_key",
    ),
    (
        "PROMOTE_SECRET_ACME_TWILIO_ACCOUNT_SID",
        "twilio-sid-7Hm3-SHOULD-NEVER-SHOW",
        "/mfa_methods/sms/auth/sms/sid",
    ),
    (
        "PROMOTE_SECRET_ACME_TWILIO_AUTH_TOKEN",
        "twilio-token-2Rw5-SHOULD-NEVER-SHOW",
        "/mfa_methods/sms/auth/sms/auth_token",
    ),
];

pub fn secret_vars() -> Vec<(&'static str, &'static str)> {
    SECRETS
        .iter()
        .map(|(var, value, _)| (*var, *value))
        .collect()
}

/// Asserts that no secret value and not the client secret occurs in `text`.
fn assert_no_secret(what: &str, text: &str) {
    for (_, value, _) in SECRETS {
        assert!(!text.contains(value), "{what} shows a secret:\n{text}");
    }
    assert!(
        !text.contains(CLIENT_SECRET),
        "{what} shows the client secret:\n{text}"
    );
}

#[test]
fn secrets_come_from_a_secrets_file_outside_the_repository() {
    let (repo, _) = TestRepo::example_in_git();
    let tid = "acme-file";
    let serve = Serve::start(&format!("{tid}:{CLIENT_ID}:{CLIENT_SECRET}"), &[]);
    repo.write(
        "environments/remote.yaml",
        &acme_env(&repo, &serve.url, tid),
    );
    let file_text: String = SECRETS
        .iter()
        .map(|(var, value, _)| {
            format!(
                "{}: \"{value}\"\n",
                var.strip_prefix("PROMOTE_SECRET_").unwrap()
            )
        })
        .collect();
    // Inside the work tree, where a commit could take it: refused, and nothing is sent.
    repo.write("secrets.yaml", &file_text);
    let inside = repo.join("secrets.yaml");
    let refused = run(
        &repo,
        &["apply", "--env", "remote", "--yes"],
        CLIENT_SECRET,
        &[("PROMOTE_SECRETS_FILE", inside.to_str().unwrap())],
    );
    refused
        .code(1)
        .stderr_contains("refusing to read secrets from")
        .stderr_contains("inside the git work tree");
    assert!(!refused.stdout.contains("Apply to remote"), "{refused}");
    assert_no_secret("a refused secrets file", &refused.to_string());
    assert!(repo.state_commits().is_empty());

    // Outside the repository: every value is delivered, and a variable wins over the file.
    let vault = TestRepo::empty();
    vault.write("secrets.yaml", &file_text);
    let outside = vault.join("secrets.yaml");
    let applied = run(
        &repo,
        &["apply", "--env", "remote", "--yes"],
        CLIENT_SECRET,
        &[
            ("PROMOTE_SECRETS_FILE", outside.to_str().unwrap()),
            (
                "PROMOTE_SECRET_ACME_WEBHOOK_KEY",
                "webhook-from-the-variable",
            ),
        ],
    );
    applied.success();
    assert_no_secret("apply with a secrets file", &applied.to_string());
    let live = serve.export(tid, CLIENT_ID, CLIENT_SECRET, true);
    for (var, value, pointer) in SECRETS {
        let expected = if var == "PROMOTE_SECRET_ACME_WEBHOOK_KEY" {
            "webhook-from-the-variable"
        } else {
            value
        };
        assert_eq!(live.pointer(pointer), Some(&json!(expected)), "{pointer}");
    }
}

#[test]
fn a_secret_missing_from_the_file_names_the_file_and_the_secret() {
    let (repo, _) = TestRepo::example_in_git();
    let tid = "acme-missing";
    let serve = Serve::start(&format!("{tid}:{CLIENT_ID}:{CLIENT_SECRET}"), &[]);
    repo.write(
        "environments/remote.yaml",
        &acme_env(&repo, &serve.url, tid),
    );
    let vault = TestRepo::empty();
    vault.write(
        "secrets.yaml",
        "ACME_GOOGLE_SECRET: google-4Kx7-SHOULD-NEVER-SHOW\n",
    );
    let file = vault.join("secrets.yaml");
    let run = run(
        &repo,
        &["apply", "--env", "remote", "--yes"],
        CLIENT_SECRET,
        &[("PROMOTE_SECRETS_FILE", file.to_str().unwrap())],
    );
    run.code(1)
        .shows("is not set and ")
        .shows(&format!("{} has no `ACME_", file.display()));
    assert_no_secret("a missing secret", &run.to_string());
}

#[test]
fn secrets_are_delivered_and_never_shown() {
    let (repo, _) = TestRepo::example_in_git();
    let tid = "acme-remote";
    // Some 500s, so that retries are logged with -vv too.
    let serve = Serve::start(
        &format!("{tid}:{CLIENT_ID}:{CLIENT_SECRET}"),
        &["--fault", "500=0.2", "--seed", "11"],
    );
    repo.write(
        "environments/remote.yaml",
        &acme_env(&repo, &serve.url, tid),
    );

    // Without the secrets, the objects that need them cannot be created.
    run(
        &repo,
        &["apply", "--env", "remote", "--yes"],
        CLIENT_SECRET,
        &[],
    )
    .code(1)
    .shows("$PROMOTE_SECRET_ACME_");
    assert!(repo.state_commits().is_empty());

    let mut shown = Vec::new();
    let text = run(
        &repo,
        &["-vv", "apply", "--env", "remote", "--yes"],
        CLIENT_SECRET,
        &secret_vars(),
    );
    // -vv logs each retry with what the platform answered: that log is scanned too.
    text.success().stderr_contains("retrying in");
    shown.push(("apply -vv", text.to_string()));

    // Delivered: the platform holds each value where the repository says `secret()`.
    let live = serve.export(tid, CLIENT_ID, CLIENT_SECRET, true);
    for (_, value, pointer) in SECRETS {
        assert_eq!(live.pointer(pointer), Some(&json!(value)), "{pointer}");
    }
    // ... and never exports it without credentials.
    let plain = serve.export(tid, CLIENT_ID, CLIENT_SECRET, false);
    assert_no_secret("an export without credentials", &plain.to_string());

    // A second apply (a change, so a backup holding the secrets is saved), in JSON.
    repo.edit(
        "templates/acme/workspaces/default/clients/storefront-spa.yaml",
        "description: React storefront at",
        "description: React shop at",
    );
    let json_run = run(
        &repo,
        &[
            "-vv", "--output", "json", "apply", "--env", "remote", "--yes",
        ],
        CLIENT_SECRET,
        &secret_vars(),
    );
    json_run.success();
    let report = json_run.stdout_json();
    assert_eq!(report_tenant(&report, "acme")["outcome"], "applied");
    shown.push(("apply -vv --output json", json_run.to_string()));
    let planned = run(
        &repo,
        &["-vv", "plan", "--env", "remote"],
        CLIENT_SECRET,
        &secret_vars(),
    );
    planned.success();
    shown.push(("plan -vv", planned.to_string()));
    let rendered = run(
        &repo,
        &["render", "--env", "remote"],
        CLIENT_SECRET,
        &secret_vars(),
    );
    shown.push(("render", rendered.to_string()));
    shown.push(("the emulator's log", serve.log()));
    for (what, text) in &shown {
        assert_no_secret(what, text);
    }

    // The state: no blob of any commit holds a secret.
    let blobs = repo.state_blobs();
    assert_eq!(blobs.len(), 2, "one file in each of two commits");
    for (path, text) in &blobs {
        assert_no_secret(path, text);
        assert!(!text.contains("<secret:"), "{path} keeps a marker:\n{text}");
    }

    // Backups: owner-only files whose names say nothing; the second one holds the delivered
    // secrets, by design (a rollback restores them).
    let backups = repo.backups("remote", "acme");
    assert_eq!(backups.len(), 2);
    for b in &backups {
        let mode = std::fs::metadata(b).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{}", b.display());
        assert_no_secret("a backup's name", b.to_str().unwrap());
    }
    let backup: Value =
        serde_json::from_str(&std::fs::read_to_string(&backups[1]).unwrap()).unwrap();
    let values: BTreeMap<String, &str> = strings(&backup).into_iter().collect();
    for (_, value, pointer) in SECRETS {
        assert_eq!(values.get(pointer).copied(), Some(value), "{pointer}");
    }
}

#[test]
fn rotate_secrets_sends_every_secret_again() {
    let (repo, _) = TestRepo::example_in_git();
    let tid = "acme-rotate";
    let serve = Serve::start(&format!("{tid}:{CLIENT_ID}:{CLIENT_SECRET}"), &[]);
    repo.write(
        "environments/remote.yaml",
        &acme_env(&repo, &serve.url, tid),
    );
    run(
        &repo,
        &["apply", "--env", "remote", "--yes"],
        CLIENT_SECRET,
        &secret_vars(),
    )
    .success();
    let mut vars = secret_vars();
    vars[2].1 = "webhook-ROTATED";
    run(
        &repo,
        &["apply", "--env", "remote", "--yes", "--rotate-secrets"],
        CLIENT_SECRET,
        &vars,
    )
    .success()
    .shows("applied")
    .shows("no configuration changes")
    .shows("secrets sent: /mfa_methods/sms/auth")
    .shows("/servers/default/webhooks/crm-events/api_key")
    .never_shows("webhook-ROTATED");
    let live = serve.export(tid, CLIENT_ID, CLIENT_SECRET, true);
    assert_eq!(live.pointer(SECRETS[2].2), Some(&json!("webhook-ROTATED")));
}

/// A saas environment `remote` of one tenant `globex` (`globex-remote`) at `url`.
fn one_saas_tenant(repo: &TestRepo, url: &str) {
    repo.write(
        "environments/remote.yaml",
        &saas_env(url, &[("globex".into(), "globex-remote".into())]),
    );
}

#[test]
fn a_wrong_client_secret_is_refused_and_breaks_nothing() {
    let (repo, _) = TestRepo::example_in_git();
    let serve = Serve::start(&format!("globex-remote:{CLIENT_ID}:{CLIENT_SECRET}"), &[]);
    one_saas_tenant(&repo, &serve.url);
    let wrong = "wrong-secret-Jx4-never-printed";
    let refused = run(&repo, &["apply", "--env", "remote", "--yes"], wrong, &[]);
    refused
        .code(1)
        .shows("401 invalid_client")
        .shows("check the client credentials")
        .never_shows(wrong)
        .never_shows(CLIENT_SECRET);
    assert!(repo.state_commits().is_empty());
    assert!(repo.backups("remote", "globex").is_empty());
    // The platform was not touched, and the right secret works.
    assert_eq!(
        serve.export("globex-remote", CLIENT_ID, CLIENT_SECRET, false),
        json!({})
    );
    run(
        &repo,
        &["apply", "--env", "remote", "--yes"],
        CLIENT_SECRET,
        &[],
    )
    .success();
    assert_eq!(repo.state_commits().len(), 1);
}

#[test]
fn a_missing_client_secret_variable_is_named() {
    let (repo, _) = TestRepo::example_in_git();
    one_saas_tenant(&repo, "http://127.0.0.1:9");
    repo.run(&["apply", "--env", "remote", "--yes"])
        .code(1)
        .stderr_contains("environments/remote.yaml:3")
        .stderr_contains("$PROMOTE_CLIENT_ID");
}

#[test]
fn a_change_the_platform_does_not_keep_fails_with_its_paths() {
    let (repo, _) = TestRepo::example_in_git();
    let clients = format!("globex-remote:{CLIENT_ID}:{CLIENT_SECRET}");
    let data = repo.join(".platform");
    let data = data.to_str().unwrap();
    let apply = |faults: &[&str]| {
        let serve = Serve::start(&clients, &[&["--data", data], faults].concat());
        one_saas_tenant(&repo, &serve.url);
        run(
            &repo,
            &["apply", "--env", "remote", "--yes"],
            CLIENT_SECRET,
            &[],
        )
    };
    apply(&[]).success();
    let commits = repo.state_commits();
    repo.edit(
        "templates/saas/workspaces/app/clients/app-backend.yaml",
        "token introspection and background jobs",
        "token introspection and nightly jobs",
    );
    let path = "/servers/app/clients/app-backend/description";
    // The platform answers 204 and keeps nothing: apply reads back, and says what did not take.
    apply(&["--fault", "lose=1"])
        .code(1)
        .shows("globex (globex-remote): failed")
        .shows("1 path(s) do not hold the desired value")
        .shows(path);
    assert_eq!(repo.state_commits(), commits);
    assert_eq!(repo.backups("remote", "globex").len(), 2);
    // Once the platform keeps changes again, apply finishes it.
    apply(&[]).success().shows(path);
    assert_eq!(repo.state_commits().len(), commits.len() + 1);
}

#[test]
fn an_unreachable_platform_is_a_clear_error() {
    let (repo, _) = TestRepo::example_in_git();
    // A port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    one_saas_tenant(&repo, &format!("http://127.0.0.1:{port}"));
    // (Connection refused is retried like any transport failure: this takes ~15 s.)
    run(
        &repo,
        &["apply", "--env", "remote", "--yes"],
        CLIENT_SECRET,
        &[],
    )
    .code(1)
    .shows("connection refused: is the platform reachable at target.url?")
    .shows("(after 8 attempts)")
    .never_shows(CLIENT_SECRET);
    assert!(repo.state_commits().is_empty());
    assert!(repo.backups("remote", "globex").is_empty());
}

#[test]
fn tls_to_a_plain_http_port_is_a_tls_error() {
    let (repo, _) = TestRepo::example_in_git();
    let serve = Serve::start(&format!("globex-remote:{CLIENT_ID}:{CLIENT_SECRET}"), &[]);
    one_saas_tenant(&repo, &format!("https://127.0.0.1:{}", serve.port));
    // Not transient, so not retried.
    run(
        &repo,
        &["apply", "--env", "remote", "--yes"],
        CLIENT_SECRET,
        &[],
    )
    .code(1)
    .shows("TLS")
    .shows("does not speak TLS")
    .never_shows("attempts");
}

#[test]
fn plain_http_beyond_loopback_is_refused() {
    let (repo, _) = TestRepo::example_in_git();
    one_saas_tenant(&repo, "http://platform.example.test");
    run(
        &repo,
        &["apply", "--env", "remote", "--yes"],
        CLIENT_SECRET,
        &[],
    )
    .code(1)
    .stderr_contains("plain HTTP")
    .stderr_contains("environments/remote.yaml:2");
    assert!(repo.state_commits().is_empty());
}

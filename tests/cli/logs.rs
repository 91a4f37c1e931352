//! `-v` and `-vv`: what promote does, on stderr, for people; never a credential, never on
//! stdout.

use crate::remote::{acme_env, run, secret_vars, CLIENT_ID, CLIENT_SECRET, SECRETS};
use crate::support::{Serve, TestRepo};

/// The lines of `stderr` that say `text`.
fn lines_with<'a>(stderr: &'a str, text: &str) -> Vec<&'a str> {
    stderr.lines().filter(|l| l.contains(text)).collect()
}

/// Asserts that `line` ends with a status and a time: `... 200 12ms`.
fn ends_with_status_and_time(line: &str, status: &str) {
    let words: Vec<&str> = line.split_whitespace().collect();
    let [.., got, time] = words[..] else {
        panic!("not a request line: {line}")
    };
    assert_eq!(got, status, "{line}");
    assert!(
        time.strip_suffix("ms")
            .is_some_and(|ms| ms.parse::<u64>().is_ok()),
        "{line}"
    );
}

/// The example repository with an environment `remote`: its acme tenant as `tid` on a
/// `promote serve` started with `args`.
fn remote(tid: &str, args: &[&str]) -> (TestRepo, Serve) {
    let (repo, _) = TestRepo::example_in_git();
    let serve = Serve::start(&format!("{tid}:{CLIENT_ID}:{CLIENT_SECRET}"), args);
    repo.write(
        "environments/remote.yaml",
        &acme_env(&repo, &serve.url, tid),
    );
    (repo, serve)
}

/// Finding 9 of the production-safety issue: against a `url:` target, `-v` printed nothing
/// for plan, apply or export.
#[test]
fn verbose_says_each_request_and_tenant_against_a_platform_and_never_a_credential() {
    let tid = "acme-logs";
    let (repo, _serve) = remote(tid, &[]);
    let secrets = secret_vars();

    let plan = run(
        &repo,
        &["plan", "--env", "remote", "-v"],
        CLIENT_SECRET,
        &secrets,
    );
    plan.success();
    let export = format!("GET /api/hub/{tid}/promote/config?with_credentials=false");
    let exports = lines_with(&plan.stderr, &export);
    assert_eq!(exports.len(), 1, "{plan}");
    // For people: the level, the request, the status and the time; no module path.
    assert!(
        exports[0].trim_start().starts_with("INFO GET /api/hub/"),
        "{plan}"
    );
    ends_with_status_and_time(exports[0], "200");
    for line in [
        format!("GET /{tid}/system/.well-known/openid-configuration 200 "),
        format!("POST /{tid}/system/oauth2/token 200 "),
        format!("plan remote: acme ({tid}) started"),
        format!("plan remote: acme ({tid}) planned "),
        "state: read 0 last-applied record(s) of `remote`".to_owned(),
    ] {
        plan.stderr_contains(&line);
    }
    // The log stays on stderr; -v alone shows nothing of the debug level.
    assert!(!plan.stdout.contains("INFO"), "{plan}");
    assert!(!plan.stderr.contains("DEBUG"), "{plan}");

    // -vv: more (sizes, templates), and still no credential: not the client secret, not a
    // secret() value sent in the request bodies.
    let apply = run(
        &repo,
        &["apply", "--env", "remote", "--yes", "-vv"],
        CLIENT_SECRET,
        &secrets,
    );
    apply.success();
    let writes: Vec<&str> = apply
        .stderr
        .lines()
        .filter(|l| {
            (l.contains(" POST /api/hub/") || l.contains(" PATCH /api/hub/"))
                && l.contains(&format!("/{tid}/"))
        })
        .collect();
    assert!(!writes.is_empty(), "no write logged:\n{apply}");
    assert!(
        writes.iter().any(|l| l.contains("dry_run=false")),
        "{apply}"
    );
    for line in [
        format!("apply remote: acme ({tid}) started"),
        format!("apply remote: acme ({tid}) applied "),
        "state: recorded 1 tenant(s)".to_owned(),
        "templates compiled".to_owned(),
        "bytes, received ".to_owned(),
    ] {
        apply.stderr_contains(&line);
    }
    for (_, value, _) in SECRETS {
        assert!(!apply.stderr.contains(value), "a secret() value:\n{apply}");
    }
    assert!(!apply.stderr.contains(CLIENT_SECRET), "{apply}");
    assert!(
        !apply.stderr.to_ascii_lowercase().contains("bearer "),
        "{apply}"
    );
    assert!(!apply.stderr.contains("Authorization"), "{apply}");

    // With --output json the log is on stderr and stdout is one JSON document.
    let json = run(
        &repo,
        &["plan", "--env", "remote", "-v", "--output", "json"],
        CLIENT_SECRET,
        &secrets,
    );
    json.success();
    assert_eq!(json.stdout_json()["tenants"][0]["status"], "unchanged");
    json.stderr_contains(&export)
        .stderr_contains("state: read 1 last-applied record(s)")
        .stderr_contains(&format!("plan remote: acme ({tid}) unchanged in "));
}

/// A refused request is logged with the platform's error code, and a retried one with its
/// attempts.
#[test]
fn verbose_says_what_the_platform_refused_and_what_was_retried() {
    let tid = "acme-retries";
    let (repo, _serve) = remote(tid, &["--fault", "500=0.5", "--seed", "3"]);
    // Half the requests fail: within a few plans some request is retried.
    let retried = (0..8)
        .map(|_| {
            let plan = run(
                &repo,
                &["plan", "--env", "remote", "-v"],
                CLIENT_SECRET,
                &secret_vars(),
            );
            plan.success();
            plan.stderr.clone()
        })
        .find(|stderr| stderr.contains(" 500 "))
        .expect("no request failed with 500");
    let line = lines_with(&retried, " 500 ")[0];
    assert!(
        line.contains("ms; retrying in ") && line.contains("(attempt 1 of "),
        "{retried}"
    );

    let refused = run(
        &repo,
        &["plan", "--env", "remote", "-v"],
        "not-the-client-secret",
        &secret_vars(),
    );
    refused.code(1);
    let token = lines_with(
        &refused.stderr,
        &format!("POST /{tid}/system/oauth2/token 401"),
    );
    assert!(!token.is_empty(), "{refused}");
    refused.never_shows("not-the-client-secret");
}

/// The embedded emulator's own request log is not promote's: at `-v` the client's lines say
/// each request once; at `-vv` the emulator's log is there too.
#[test]
fn the_embedded_emulators_request_log_shows_only_at_debug() {
    let (repo, _) = TestRepo::example_in_git();
    let verbose = repo.run(&["plan", "--env", "local", "-v", "--tenant", "acme"]);
    verbose.success();
    verbose
        .stderr_contains("GET /api/hub/acme-local/promote/config?with_credentials=false 200 ")
        .stderr_contains("plan local: acme (acme-local) planned ");
    assert!(!verbose.stderr.contains("promote::serve"), "{verbose}");
    let debug = repo.run(&["plan", "--env", "local", "-vv", "--tenant", "acme"]);
    debug.success().stderr_contains("promote::serve");
}

//! `promote migrate`: a tenant from one embedded emulator into another, with its ID, URL and
//! variable values rewritten and fresh credentials, the repository untouched.

use serde_json::{json, Value};

use crate::apply::applied_example;
use crate::support::TestRepo;
use promote_platform::credentials::{self, Scope};

/// The example applied to `local`, and an environment `other` on an emulator of its own where
/// globex is `globex-other` with its own domain.
fn two_environments() -> TestRepo {
    let (repo, _) = applied_example();
    let local = repo.read("environments/local.yaml");
    let other = local
        .replace("emulator: .promote/emulator", "emulator: .promote/other")
        .replace("domain: globex.localhost", "domain: globex.example.net")
        .replace("id: globex-local", "id: globex-other")
        .replace(
            "app_domain: app.acmecloud.localhost",
            "app_domain: app.acmecloud.example.net",
        );
    repo.write("environments/other.yaml", &other);
    repo
}

/// `promote migrate --from local:globex --to other:globex EXTRA...`.
fn migrate_globex(repo: &TestRepo, extra: &[&str]) -> crate::support::Run {
    let mut args = vec!["migrate", "--from", "local:globex", "--to", "other:globex"];
    args.extend_from_slice(extra);
    repo.run(&args)
}

/// `promote migrate --from local:acme --to other:acme EXTRA...`.
fn migrate_acme(repo: &TestRepo, extra: &[&str]) -> crate::support::Run {
    let mut args = vec!["migrate", "--from", "local:acme", "--to", "other:acme"];
    args.extend_from_slice(extra);
    repo.run(&args)
}

fn other_tenant(repo: &TestRepo, tid: &str) -> Value {
    let path = repo.join(&format!(".promote/other/tenants/{tid}.json"));
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn without_credentials(mut v: Value) -> Value {
    credentials::strip(&mut v, Scope::Tenant);
    if let Value::Object(m) = &mut v {
        m.remove("jwks");
        if let Some(Value::Object(servers)) = m.get_mut("servers") {
            for ws in servers.values_mut() {
                if let Value::Object(w) = ws {
                    w.remove("jwks");
                }
            }
        }
    }
    v
}

#[test]
fn a_migrated_tenant_equals_its_source_up_to_rewritten_names_with_fresh_credentials() {
    let repo = two_environments();
    let status = repo.git_status();
    migrate_globex(&repo, &["--yes"])
        .success()
        .stdout_contains("Migrate to other")
        .stdout_contains("globex (globex-other): applied: new tenant")
        .stderr_contains("http://localhost:3000/auth/callback");
    let source = repo.emulator_tenant("globex-local");
    let migrated = other_tenant(&repo, "globex-other");
    let expected = serde_json::to_string(&without_credentials(source.clone()))
        .unwrap()
        .replace("globex-local", "globex-other")
        .replace("globex.localhost", "globex.example.net")
        .replace("app.acmecloud.localhost", "app.acmecloud.example.net");
    let expected: Value = serde_json::from_str(&expected).unwrap();
    assert_eq!(without_credentials(migrated.clone()), expected);
    // Fresh credentials: the destination generated its own.
    let secret = |t: &Value| t["servers"]["app"]["clients"]["app-backend"]["client_secret"].clone();
    assert!(secret(&migrated).is_string());
    assert_ne!(secret(&migrated), secret(&source));
    assert_ne!(migrated["jwks"], source["jwks"]);
    // The repository is untouched.
    assert_eq!(repo.git_status(), status);
}

#[test]
fn dry_run_and_mode_fail_change_nothing() {
    let repo = two_environments();
    migrate_globex(&repo, &["--dry-run"])
        .success()
        .stdout_contains("accepted (dry run)");
    assert!(!repo
        .join(".promote/other/tenants/globex-other.json")
        .exists());
    migrate_globex(&repo, &["--yes"]).success();
    let before = std::fs::read(repo.join(".promote/other/tenants/globex-other.json")).unwrap();
    // Again: every object exists on the destination now, and --mode fail (the default) stops.
    migrate_globex(&repo, &["--yes"])
        .code(1)
        .stderr_contains("object(s) exist on both sides")
        .stderr_contains("--mode update");
    migrate_globex(&repo, &["--yes", "--mode", "update"]).success();
    assert_eq!(
        without_credentials(other_tenant(&repo, "globex-other")),
        without_credentials(serde_json::from_slice(&before).unwrap())
    );
}

#[test]
fn bad_arguments_are_named() {
    let repo = TestRepo::example();
    repo.run(&["migrate", "--from", "local", "--to", "other:globex"])
        .code(1)
        .stderr_contains("--from `local` is not ENV:TENANT");
}

/// Every credential the migration drops is listed, from the one credentials list: those the
/// destination generates afresh, and those (a webhook's api_key) nothing stands in for.
#[test]
fn the_credentials_a_migration_drops_are_listed_with_how_to_supply_them() {
    let repo = two_environments();
    let run = migrate_acme(&repo, &["--yes"]);
    run.success()
        .stderr_contains("does not carry")
        .stderr_contains(
            "/servers/default/webhooks/crm-events/api_key: left out, and nothing stands in for it",
        )
        .stderr_contains("/jwks: the destination generates a new one")
        .stderr_contains("client_secret: the destination generates a new one")
        .stderr_contains("--with-credentials")
        .stderr_contains("--rotate-secrets");
    assert!(!run.stderr.contains("PROMOTE_SECRET_ACME_WEBHOOK_KEY="));
    // With the credentials copied, nothing is dropped and nothing is said; the platform's own
    // material (signing keys, workspace secret and salt) is never copied: the destination
    // keeps its own.
    let material = |tree: &Value| {
        json!([
            tree["jwks"],
            tree["servers"]["default"]["secret"],
            tree["servers"]["default"]["subject_identifier_algorithm_salt"],
            tree["servers"]["default"]["jwks"]
        ])
    };
    let before = material(&other_tenant(&repo, "acme-local"));
    let source: Value = serde_json::from_slice(
        &std::fs::read(repo.join(".promote/emulator/tenants/acme-local.json")).unwrap(),
    )
    .unwrap();
    assert_ne!(before, material(&source));
    let run = migrate_acme(&repo, &["--yes", "--mode", "update", "--with-credentials"]);
    run.success();
    assert!(!run.stderr.contains("does not carry"), "{}", run.stderr);
    assert_eq!(material(&other_tenant(&repo, "acme-local")), before);
}

/// Without --yes and without a terminal nothing is imported; the help of --mode speaks of the
/// two tenants, not of a repository.
#[test]
fn migrate_needs_consent_and_its_modes_say_what_they_do() {
    let repo = two_environments();
    migrate_globex(&repo, &[])
        .code(1)
        .stderr_contains("nothing was imported")
        .stderr_contains("--yes");
    assert!(
        !repo
            .join(".promote/other/tenants/globex-other.json")
            .exists()
            || other_tenant(&repo, "globex-other")
                .as_object()
                .is_some_and(|m| m.is_empty())
    );
    let help = repo.run(&["migrate", "--help"]);
    help.success()
        .stdout_contains("Overwrite the destination's object with the source's")
        .stdout_contains("Keep the destination's object");
    assert!(!help.stdout.contains("repository's value"));
}

/// A destination tenant the platform does not know is created through the system endpoints
/// (a client of the system tenant), not refused with a 404 on discovery.
#[test]
fn migrate_creates_an_unknown_tenant_through_the_system_endpoints() {
    use crate::remote::{acme_env, run, CLIENT_ID, CLIENT_SECRET};
    let (repo, _) = applied_example();
    let data = tempfile::tempdir().unwrap();
    let serve = crate::support::Serve::start(
        &format!("system:{CLIENT_ID}:{CLIENT_SECRET}"),
        &["--data", data.path().to_str().unwrap()],
    );
    repo.write(
        "environments/remote.yaml",
        &acme_env(&repo, &serve.url, "acme-new"),
    );
    let migrated = run(
        &repo,
        &[
            "migrate",
            "--from",
            "local:acme",
            "--to",
            "remote:acme",
            "--yes",
        ],
        CLIENT_SECRET,
        &[],
    );
    migrated
        .success()
        .stderr_contains("remote does not know tenant `acme-new`")
        .stderr_contains("system endpoints")
        .stdout_contains("new tenant");
    let file = data.path().join("tenants/acme-new.json");
    let mut tree = Value::Null;
    for _ in 0..50 {
        if let Ok(bytes) = std::fs::read(&file) {
            tree = serde_json::from_slice(&bytes).unwrap();
            if tree.get("servers").is_some() {
                break;
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let source = repo.emulator_tenant("acme-local");
    assert_eq!(
        tree["servers"]["default"]["clients"]
            .as_object()
            .map(|c| c.len()),
        source["servers"]["default"]["clients"]
            .as_object()
            .map(|c| c.len()),
        "{tree}"
    );
}

/// An import replaces the destination's whole configuration: an object the source lacks is
/// removed only with --allow-delete, as apply's rule says, and the destination is backed up
/// first, so that the migration can be rolled back.
#[test]
fn migrate_removes_only_when_allowed_and_backs_the_destination_up() {
    let repo = two_environments();
    migrate_globex(&repo, &["--yes"]).success();
    // The embedded emulator holds the tenant, empty: saved as it was, as apply saves it.
    assert_eq!(repo.backups("other", "globex").len(), 1);
    let file = repo.join(".promote/other/tenants/globex-other.json");
    let mut tree: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    let web = tree["servers"]["app"]["clients"]["web"].clone();
    tree["servers"]["app"]["clients"]["extra"] = web;
    std::fs::write(&file, serde_json::to_vec(&tree).unwrap()).unwrap();

    migrate_globex(&repo, &["--yes", "--mode", "update"])
        .code(1)
        .stderr_contains("the plan removes 1 object(s): /servers/app/clients/extra")
        .stderr_contains("--allow-delete");
    assert!(other_tenant(&repo, "globex-other")
        .pointer("/servers/app/clients/extra")
        .is_some());
    assert_eq!(
        repo.backups("other", "globex").len(),
        1,
        "refused: nothing saved"
    );

    migrate_globex(&repo, &["--yes", "--mode", "update", "--allow-delete"]).success();
    assert!(other_tenant(&repo, "globex-other")
        .pointer("/servers/app/clients/extra")
        .is_none());
    let saved = repo.backups("other", "globex");
    assert_eq!(saved.len(), 2);
    let backup: Value = serde_json::from_slice(&std::fs::read(&saved[1]).unwrap()).unwrap();
    assert!(backup.pointer("/servers/app/clients/extra").is_some());
    repo.run(&["rollback", "--env", "other", "--tenant", "globex", "--list"])
        .success()
        .stdout_contains("taken by migrate");
}

//! `promote migrate`: a tenant from one embedded emulator into another, with its ID, URL and
//! variable values rewritten and fresh credentials, the repository untouched.

use serde_json::Value;

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

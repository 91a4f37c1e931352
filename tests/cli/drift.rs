//! `promote drift`: what changed on the platform behind promote's back, and what the
//! repository has not applied yet.

use serde_json::json;

use crate::apply::{applied_example, apply};
use crate::support::{report_tenant, TestRepo};

const DESCRIPTION: &str = "/servers/default/clients/storefront-spa/description";

#[test]
fn in_sync_after_apply_then_a_console_edit_is_drift_until_the_next_apply() {
    let (repo, _) = applied_example();
    repo.run(&["drift", "--env", "local"])
        .success()
        .stdout_contains("4 in sync");

    repo.edit_emulator_tenant("acme-local", |t| {
        let clients = &mut t["servers"]["default"]["clients"];
        clients["storefront-spa"]["description"] = json!("edited in the console");
        clients["console-made"] = json!({"client_name": "Made in the console"});
    });
    repo.run(&["drift", "--env", "local"])
        .code(2)
        .stdout_contains(&format!(
            "{DESCRIPTION}: applied \"React storefront at shop.acme.localhost\", now \"edited in the console\""
        ))
        .stdout_contains("/servers/default/clients/console-made: created on the platform")
        // The summary counts tenants in the words of the tenant lines: acme has one path
        // changed and one object created on the platform.
        .stdout_contains(
            "acme (acme-local): 1 path(s) changed on the platform, 1 object(s) created there, 0 path(s) not yet applied",
        )
        .stdout_contains("4 tenant(s): 1 changed on the platform, 1 created there, 0 not yet applied, 0 never applied, 3 in sync, 0 error(s)");

    let (run, report) = repo.json_run(&["drift", "--env", "local", "--output", "json"], &[]);
    run.code(2);
    let acme = report_tenant(&report, "acme");
    assert_eq!(
        acme["drifted"],
        json!([{"path": DESCRIPTION, "applied": "React storefront at shop.acme.localhost", "live": "edited in the console", "conflict": false}])
    );
    assert_eq!(
        acme["unmanaged"],
        json!(["/servers/default/clients/console-made"])
    );
    assert_eq!(report["summary"]["drifted"], 1);
    assert_eq!(report["summary"]["created"], 1);

    // apply restores the owned field; the console's own client is left alone and still shown.
    apply(&repo, &[]).0.success();
    repo.run(&["drift", "--env", "local"])
        .code(2)
        .stdout_contains("0 path(s) changed on the platform, 1 object(s) created there")
        .stdout_contains("4 tenant(s): 0 changed on the platform, 1 created there")
        .never_shows(DESCRIPTION);
}

#[test]
fn a_repository_change_is_pending_not_drift() {
    let (repo, _) = applied_example();
    repo.edit(
        "templates/acme/workspaces/default/clients/storefront-spa.yaml",
        "description: React storefront at",
        "description: React shop at",
    );
    let (run, report) = repo.json_run(&["drift", "--env", "local", "--output", "json"], &[]);
    run.code(2);
    let acme = report_tenant(&report, "acme");
    assert_eq!(acme["drifted"], json!([]));
    assert_eq!(acme["pending"][0]["path"], DESCRIPTION);
    assert_eq!(acme["pending"][0]["reason"], "desired");
    repo.run(&["drift", "--env", "local", "--output", "markdown"])
        .code(2)
        .stdout_contains("| `acme` | `acme-local` | 0 | 0 | 1 |");
}

#[test]
fn a_tenant_never_applied_says_so() {
    let (repo, _) = TestRepo::example_in_git();
    repo.run(&["drift", "--env", "local", "--tenant", "globex"])
        .code(2)
        .stdout_contains("globex (globex-local): never applied by promote, ")
        .stdout_contains("`promote apply --env local --tenant globex`");
}

/// Finding 10a of the production-safety issue: before any apply, a tenant whose platform
/// already holds what the repository says was reported "in sync", exit 0.
#[test]
fn a_tenant_never_applied_is_never_in_sync_even_when_it_matches() {
    let (repo, _) = applied_example();
    // The platform holds the repository's configuration, but promote has no record of it.
    git2::Repository::open(repo.path())
        .unwrap()
        .find_reference("refs/promote/state")
        .unwrap()
        .delete()
        .unwrap();
    repo.run(&["plan", "--env", "local", "--detailed-exitcode"])
        .success();
    repo.run(&["drift", "--env", "local"])
        .code(2)
        .stdout_contains("acme (acme-local): never applied by promote, 0 path(s) not yet applied")
        .stdout_contains("0 not yet applied, 4 never applied, 0 in sync, 0 error(s)");
    let (run, report) = repo.json_run(&["drift", "--env", "local", "--output", "json"], &[]);
    run.code(2);
    assert_eq!(report["summary"]["never_applied"], 4);
    assert_eq!(report["summary"]["in_sync"], 0);
    assert_eq!(report_tenant(&report, "acme")["applied"], false);
}

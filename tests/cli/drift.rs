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
        .stdout_contains("1 changed on the platform, 0 with changes not yet applied, 3 in sync");

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

    // apply restores the owned field; the console's own client is left alone and still shown.
    apply(&repo, &[]).0.success();
    repo.run(&["drift", "--env", "local"])
        .code(2)
        .stdout_contains("0 changed on the platform, 1 object(s) created there")
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
        .stdout_contains("(never applied by promote)");
}

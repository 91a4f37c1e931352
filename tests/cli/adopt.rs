//! `promote adopt`: what was made by hand on the platform, taken into the templates and
//! recorded as applied; and `drift` listing it with the command that does that.

use serde_json::json;

use crate::apply::{applied_example, plan};
use crate::support::{report_tenant, Run, TestRepo};

const HOTFIX: &str = "/servers/default/clients/hotfix";
const HOTFIX_FILE: &str = "templates/acme/workspaces/default/clients/hotfix.yaml";
const SPA_FILE: &str = "templates/acme/workspaces/default/clients/storefront-spa.yaml";
const OWNER: &str = "/servers/default/clients/storefront-spa/metadata/owner";
const SECRET: &str = "HOTFIX-S3CRET-never-in-git-42";

/// `promote adopt --env local --tenant acme ARGS`.
fn adopt(repo: &TestRepo, args: &[&str]) -> Run {
    let mut all = vec!["adopt", "--env", "local", "--tenant", "acme"];
    all.extend_from_slice(args);
    repo.run(&all)
}

/// Everything a commit could take: the templates and the state's records.
fn repository_text(repo: &TestRepo) -> String {
    let mut all = String::new();
    for entry in walkdir::WalkDir::new(repo.join("templates")) {
        let entry = entry.unwrap();
        if entry.file_type().is_file() {
            all.push_str(&std::fs::read_to_string(entry.path()).unwrap());
        }
    }
    for (_, blob) in repo.state_blobs() {
        all.push_str(&blob);
    }
    all
}

#[test]
fn a_hotfix_client_made_on_the_platform_is_adopted_and_drift_is_quiet_again() {
    let (repo, _) = applied_example();
    repo.edit_emulator_tenant("acme-local", |t| {
        t["servers"]["default"]["clients"]["hotfix"] = json!({
            "client_name": "Hotfix",
            "redirect_uris": ["https://hotfix.acme.localhost/callback"],
            "client_secret": SECRET,
            "grant_types": ["client_credentials"]
        });
    });
    let command = format!("promote adopt --env local --tenant acme {HOTFIX}");
    repo.run(&["drift", "--env", "local"])
        .code(2)
        .stdout_contains(&format!(
            "{HOTFIX}: created on the platform, not in the repository\n    adopt it: {command}\n"
        ));
    let (run, report) = repo.json_run(&["drift", "--env", "local", "--output", "json"], &[]);
    run.code(2);
    assert_eq!(
        report_tenant(&report, "acme")["adopt"],
        json!([{"path": HOTFIX, "command": command}])
    );

    adopt(&repo, &[HOTFIX])
        .success()
        .stdout_contains(&format!(
            "adopted {HOTFIX}\n  created {HOTFIX_FILE}, lines 1-"
        ))
        .stdout_contains("recorded as applied to acme (acme-local) of local");
    let written = repo.read(HOTFIX_FILE);
    // The environment's variable is templated back; the secret is left to the platform.
    assert!(
        written.contains("https://hotfix.{{ vars.domain }}/callback"),
        "{written}"
    );
    assert!(!repository_text(&repo).contains(SECRET));
    assert!(!written.contains("client_secret"), "{written}");

    repo.run(&["drift", "--env", "local"])
        .success()
        .stdout_contains("4 in sync");
    plan(&repo, &[]).0.success();
    // The platform still has its secret: nothing was sent.
    assert_eq!(
        repo.emulator_tenant("acme-local")["servers"]["default"]["clients"]["hotfix"]
            ["client_secret"],
        SECRET
    );
}

#[test]
fn a_field_only_live_has_is_inserted_into_its_file_keeping_comments() {
    let (repo, _) = applied_example();
    let before = repo.read(SPA_FILE);
    repo.edit_emulator_tenant("acme-local", |t| {
        t["servers"]["default"]["clients"]["storefront-spa"]["metadata"]["owner"] =
            json!("ops@acme.localhost");
    });
    repo.run(&["drift", "--env", "local"])
        .code(2)
        .stdout_contains(&format!(
            "+ {OWNER}: only on the platform, not in the repository\n    adopt it: promote adopt --env local --tenant acme {OWNER}\n"
        ))
        .stdout_contains("1 field(s) only on the platform");
    repo.run(&["drift", "--env", "local", "--output", "markdown"])
        .code(2)
        .stdout_contains("| `acme` | `acme-local` | 0 | 0 | 0 | 1 |");

    adopt(&repo, &[OWNER])
        .success()
        .stdout_contains(&format!("inserted into {SPA_FILE}, line 26\n"));
    let after = repo.read(SPA_FILE);
    assert_eq!(
        after,
        before.replace(
            "  repo: github.com/acme/storefront\n",
            "  repo: github.com/acme/storefront\n  owner: \"ops@{{ vars.domain }}\"\n"
        )
    );
    repo.run(&["drift", "--env", "local"])
        .success()
        .stdout_contains("4 in sync");
    plan(&repo, &[]).0.success();
}

/// From the independent try: a value that merely equals a variable of this tenant (a plan name
/// inside a sentence) became `{{ vars.plan }}`, which other tenants of the template render
/// with their own value. `--literal` writes the values as the platform holds them.
#[test]
fn literal_writes_the_values_as_the_platform_holds_them() {
    let (repo, _) = applied_example();
    repo.edit_emulator_tenant("acme-local", |t| {
        t["servers"]["default"]["clients"]["hotfix"] = json!({
            "client_name": "Hotfix {{ not a tag }}",
            "redirect_uris": ["https://hotfix.acme.localhost/callback"],
        });
    });
    adopt(&repo, &["--literal", HOTFIX]).success();
    let written = repo.read(HOTFIX_FILE);
    assert!(
        written.contains("https://hotfix.acme.localhost/callback"),
        "{written}"
    );
    assert!(!written.contains("vars."), "{written}");
    // What looks like a tag is written so that it renders back as it is.
    repo.run(&["drift", "--env", "local"])
        .success()
        .stdout_contains("4 in sync");
    plan(&repo, &[]).0.success();
}

#[test]
fn a_place_that_cannot_take_the_lines_is_refused_with_the_yaml_to_paste() {
    let (repo, _) = applied_example();
    repo.edit(
        SPA_FILE,
        "metadata:\n  team: web-storefront\n  repo: github.com/acme/storefront\n",
        "metadata: {team: web-storefront, repo: github.com/acme/storefront}\n",
    );
    repo.edit_emulator_tenant("acme-local", |t| {
        t["servers"]["default"]["clients"]["storefront-spa"]["metadata"]["owner"] = json!("ops");
    });
    let before = repo.read(SPA_FILE);
    adopt(&repo, &[OWNER])
        .code(1)
        .stdout_contains(&format!(
            "not adopted {OWNER}: paste this into {SPA_FILE} under `metadata:` (line "
        ))
        .stdout_contains("    owner: ops\n")
        .stderr_contains("cannot insert it into");
    assert_eq!(repo.read(SPA_FILE), before);
}

#[test]
fn pointers_that_cannot_be_adopted_are_refused_and_nothing_is_written() {
    let (repo, _) = applied_example();
    let state = repo.state_commits();
    for (pointer, says) in [
        ("servers/default", "is not a JSON pointer"),
        ("/jwks", "the platform's own material"),
        (
            "/servers/default/clients/storefront-spa/client_secret",
            "is a credential",
        ),
        (
            "/servers/default/clients/nope",
            "the platform holds nothing at",
        ),
        (
            "/servers/default/clients/storefront-spa/client_name",
            "the repository already has",
        ),
    ] {
        adopt(&repo, &[pointer]).code(1).stderr_contains(says);
    }
    let (run, report) = repo.json_run(
        &[
            "adopt",
            "--env",
            "local",
            "--tenant",
            "acme",
            "--output",
            "json",
            "/servers/default/clients/nope",
        ],
        &[],
    );
    run.code(1);
    assert_eq!(report["adopted"], json!([]));
    assert_eq!(report["recorded"], false);
    assert_eq!(
        report["refused"][0]["pointer"],
        "/servers/default/clients/nope"
    );
    assert!(repo.git_status().is_empty(), "{:?}", repo.git_status());
    assert_eq!(repo.state_commits(), state);
}

#[test]
fn a_tenant_never_applied_is_refused_with_the_hint_to_apply_it_first() {
    let (repo, _) = TestRepo::example_in_git();
    adopt(&repo, &[HOTFIX])
        .code(1)
        .stderr_contains("was never applied by promote")
        .stderr_contains("promote apply --env local --tenant acme");
}

/// Adopt writes the last-applied state: it holds the environment's lock like apply.
#[test]
fn adopt_waits_for_no_one_holding_the_environment() {
    let (repo, _) = applied_example();
    let held = json!({"id": "other-run", "host": "elsewhere.example", "pid": 1, "user": "alice",
        "command": "apply", "commit": "0123456789abcdef0123", "since": 1});
    repo.write(".git/promote/locks/local.lock", &held.to_string());
    adopt(&repo, &["--lock-timeout", "0", HOTFIX])
        .code(1)
        .stderr_contains("environment `local` is locked");
}

/// What the files written render to is checked: an API whose policy is only on the platform
/// does not validate without it, so its adoption is undone; adopted with its policy, it is in.
#[test]
fn files_that_do_not_render_back_are_undone() {
    let (repo, _) = applied_example();
    repo.edit_emulator_tenant("acme-local", |t| {
        let w = &mut t["servers"]["default"];
        w["policies"]["hand-policy"] = json!({"policy_name": "Made by hand", "type": "api", "language": "cel", "definition": "true"});
        w["services"]["orders"]["apis"]["refund"] =
            json!({"method": "POST", "path": "/orders/{id}/refund", "policy_id": "hand-policy"});
    });
    let orders = "templates/acme/workspaces/default/services/orders.yaml";
    let before = repo.read(orders);
    let refund = "/servers/default/services/orders/apis/refund";
    adopt(&repo, &[refund])
        .code(1)
        .stderr_contains("they were undone");
    assert_eq!(repo.read(orders), before);
    assert!(repo.git_status().is_empty(), "{:?}", repo.git_status());

    adopt(&repo, &["/servers/default/policies/hand-policy", refund]).success();
    let after = repo.read(orders);
    assert!(
        after.contains("    path: /health\n  refund:\n    method: POST\n    path: /orders/{id}/refund\n    policy_id: hand-policy\n"),
        "{after}"
    );
    repo.run(&["drift", "--env", "local"])
        .success()
        .stdout_contains("4 in sync");
}

/// A whole workspace made by hand: one command for it (its clients come with it), its files
/// laid out as export writes them, no credential of it in git.
#[test]
fn a_whole_workspace_is_adopted_with_its_objects() {
    let (repo, _) = applied_example();
    repo.edit_emulator_tenant("acme-local", |t| {
        t["servers"]["partners"] = json!({
            "name": "Partners at acme.localhost",
            "secret": "WORKSPACE-S3CRET-never-in-git",
            "clients": {"portal": {"client_name": "Partner portal", "client_secret": SECRET}}
        });
    });
    let (run, report) = repo.json_run(&["drift", "--env", "local", "--output", "json"], &[]);
    run.code(2);
    let acme = report_tenant(&report, "acme");
    assert_eq!(
        acme["unmanaged"],
        json!(["/servers/partners", "/servers/partners/clients/portal"])
    );
    assert_eq!(
        acme["adopt"],
        json!([{"path": "/servers/partners", "command": "promote adopt --env local --tenant acme /servers/partners"}])
    );
    adopt(&repo, &["/servers/partners"])
        .success()
        .stdout_contains("created templates/acme/workspaces/partners/workspace.yaml")
        .stdout_contains("created templates/acme/workspaces/partners/clients/portal.yaml");
    assert_eq!(
        repo.read("templates/acme/workspaces/partners/workspace.yaml"),
        "name: \"Partners at {{ vars.domain }}\"\n"
    );
    let all = repository_text(&repo);
    assert!(!all.contains(SECRET) && !all.contains("WORKSPACE-S3CRET"));
    repo.run(&["drift", "--env", "local"])
        .success()
        .stdout_contains("4 in sync");
}

/// From the re-check: a `secret()` value the platform holds in a plain field was shown by plan
/// and drift and written into the templates by adopt. Every `PROMOTE_SECRET_*` value is known
/// from the start and scrubbed, and adopt refuses it.
#[test]
fn a_secret_value_the_platform_echoes_into_a_plain_field_is_never_shown_nor_adopted() {
    let (repo, _) = applied_example();
    let secret = "s3cr3t-partner-value-42";
    repo.edit_emulator_tenant("acme-local", |t| {
        t["metadata"]["echo"] = json!(format!("partner {secret} here"));
    });
    let envs = [("PROMOTE_SECRET_PARTNER_SECRET", secret)];
    for args in [
        &["plan", "--env", "local"][..],
        &["plan", "--env", "local", "--output", "json"],
        &["plan", "--env", "local", "--output", "markdown"],
        &["drift", "--env", "local"],
        &["drift", "--env", "local", "--output", "json"],
    ] {
        repo.run_env(args, &envs).never_shows(secret);
    }
    repo.run_env(
        &[
            "adopt",
            "--env",
            "local",
            "--tenant",
            "acme",
            "/metadata/echo",
        ],
        &envs,
    )
    .code(1)
    .stderr_contains("holds a credential promote knows")
    .never_shows(secret);
    assert!(!repository_text(&repo).contains(secret));
}

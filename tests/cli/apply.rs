//! `promote apply` on the shipped example against its embedded emulator (`environments/local.yaml`
//! has `target: {emulator: .promote/emulator}`): what it sends, what it refuses, what it records
//! in `refs/promote/state` and where it saves backups.
//!
//! The emulator's data files (`.promote/emulator/tenants/<tid>.json`) are what the platform
//! holds: a test reads them to see what took, and compares their bytes to see that nothing was
//! written at all.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use serde_json::{json, Value};

use crate::support::{outcomes, owned_pairs, report_tenant, Run, TestRepo};

/// The tenants of `environments/local.yaml`: key and platform ID.
pub const LOCAL: [(&str, &str); 4] = [
    ("acme", "acme-local"),
    ("globex", "globex-local"),
    ("initech", "initech-local"),
    ("umbrella", "umbrella-local"),
];

/// A saas template file and a line in it whose change reaches globex, initech and umbrella.
pub const SAAS_WEB: &str = "templates/saas/workspaces/app/clients/web.yaml";
pub const SAAS_WEB_DESCRIPTION: &str = "description: Acme Cloud web application for";
pub const SAAS_WEB_DESCRIPTION_NEW: &str = "description: Acme Cloud browser app for";

/// `apply --env local --output json ARGS`.
pub fn apply(repo: &TestRepo, args: &[&str]) -> (Run, Value) {
    let mut all = vec!["apply", "--env", "local", "--yes"];
    all.extend_from_slice(args);
    repo.json_run(&all, &[])
}

/// `plan --env local --output json --detailed-exitcode ARGS`.
pub fn plan(repo: &TestRepo, args: &[&str]) -> (Run, Value) {
    let mut all = vec!["plan", "--env", "local", "--detailed-exitcode"];
    all.extend_from_slice(args);
    repo.json_run(&all, &[])
}

/// The example in git with `apply --env local` done once.
pub fn applied_example() -> (TestRepo, String) {
    let (repo, head) = TestRepo::example_in_git();
    apply(&repo, &[]).0.success();
    (repo, head)
}

/// The bytes of every local tenant's data file, to show that nothing was written.
pub fn data_bytes(repo: &TestRepo) -> BTreeMap<String, Vec<u8>> {
    LOCAL
        .iter()
        .map(|(_, tid)| ((*tid).to_owned(), repo.emulator_bytes(tid)))
        .collect()
}

/// How many backups each local tenant has.
pub fn backup_counts(repo: &TestRepo) -> Vec<usize> {
    LOCAL
        .iter()
        .map(|(key, _)| repo.backups("local", key).len())
        .collect()
}

/// Returns `tree` without the fields that hold only `<secret:NAME>` markers: what the state
/// keeps of a rendered tree (credentials never go to git).
fn without_markers(tree: &Value) -> Value {
    fn only_markers(v: &Value) -> bool {
        match v {
            Value::String(s) => s.starts_with("<secret:"),
            Value::Object(map) => !map.is_empty() && map.values().all(only_markers),
            _ => false,
        }
    }
    match tree {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(_, v)| !only_markers(v))
                .map(|(k, v)| (k.clone(), without_markers(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(without_markers).collect()),
        other => other.clone(),
    }
}

/// The client of acme whose name the tests change, and the pointer of that name.
const STOREFRONT: &str = "templates/acme/workspaces/default/clients/storefront-spa.yaml";
const STOREFRONT_NAME: &str = "/servers/default/clients/storefront-spa/client_name";

#[test]
fn apply_then_plan_is_clean_and_a_second_apply_changes_nothing() {
    let (repo, head) = TestRepo::example_in_git();
    let (run, report) = apply(&repo, &[]);
    run.success();
    assert_eq!(report["action"], "apply");
    assert_eq!(report["against"], "live");
    assert_eq!(
        outcomes(&report),
        owned_pairs(&[
            ("acme", "applied"),
            ("globex", "applied"),
            ("initech", "applied"),
            ("umbrella", "applied"),
        ])
    );
    assert_eq!(report["summary"]["tenants"], 4);
    assert_eq!(report["summary"]["with_changes"], 4);
    assert_eq!(report["summary"]["errors"], 0);
    for (key, _) in LOCAL {
        let t = report_tenant(&report, key);
        assert_eq!(t["status"], "changes", "{t}");
        assert_eq!(t["errors"], json!([]), "{t}");
        // The backup is the tenant before the first write: empty, readable by its owner only.
        let backup = Path::new(t["backup"].as_str().unwrap());
        assert_eq!(repo.backups("local", key), [backup.to_path_buf()]);
        assert_eq!(std::fs::read_to_string(backup).unwrap().trim(), "{}");
        let mode = std::fs::metadata(backup).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{}", backup.display());
    }

    // One state commit, naming every tenant, holding what was rendered without credentials.
    let commits = repo.state_commits();
    assert_eq!(commits.len(), 1, "{commits:?}");
    let message = &commits[0].1;
    assert!(
        message.starts_with(&format!(
            "apply local: 4 tenant(s) changed from {}\n\n",
            &head[..12]
        )),
        "{message}"
    );
    for (key, tid) in LOCAL {
        let c = &report_tenant(&report, key)["counts"];
        let line = format!(
            "{key} ({tid}): +{} ~{} -{}",
            c["add"], c["replace"], c["remove"]
        );
        assert!(message.lines().any(|l| l == line), "{line} in {message}");
    }
    let rendered = repo
        .run(&["render", "--env", "local"])
        .success()
        .stdout_json();
    let files = repo.state_files();
    assert_eq!(
        files.keys().collect::<Vec<_>>(),
        [
            "local/acme.json",
            "local/globex.json",
            "local/initech.json",
            "local/umbrella.json"
        ]
    );
    for (key, _) in LOCAL {
        let file = &files[&format!("local/{key}.json")];
        assert_eq!(file["source_commit"], head.as_str());
        let expected = without_markers(&rendered[key]);
        assert!(
            file["tree"] == expected,
            "state of {key} differs from the render at {:?}",
            crate::support::differences(&file["tree"], &expected)
        );
    }

    // The platform now holds the repository: the plan is empty.
    let (run, report) = plan(&repo, &[]);
    run.success();
    for (key, _) in LOCAL {
        let t = report_tenant(&report, key);
        assert_eq!(t["status"], "unchanged", "{t}");
        assert_eq!(t["changes"], json!([]), "{t}");
    }
    assert_eq!(report["summary"]["unchanged"], 4);

    // A second apply sends nothing, writes nothing, saves no backup and records no commit.
    let before = data_bytes(&repo);
    let (run, report) = apply(&repo, &[]);
    run.success();
    assert_eq!(
        outcomes(&report),
        owned_pairs(&[
            ("acme", "unchanged"),
            ("globex", "unchanged"),
            ("initech", "unchanged"),
            ("umbrella", "unchanged"),
        ])
    );
    for (key, _) in LOCAL {
        assert!(report_tenant(&report, key).get("backup").is_none());
    }
    assert_eq!(data_bytes(&repo), before);
    assert_eq!(backup_counts(&repo), [1, 1, 1, 1]);
    assert_eq!(repo.state_commits(), commits);
}

#[test]
fn a_template_change_is_planned_applied_and_recorded() {
    let (repo, _) = applied_example();
    repo.edit(STOREFRONT, "name=\"Acme Shop\"", "name=\"Acme Store\"");
    let head = repo.commit("rename the storefront");

    let (run, report) = plan(&repo, &[]);
    run.code(2);
    let acme = report_tenant(&report, "acme");
    assert_eq!(acme["status"], "changes");
    assert_eq!(
        acme["changes"],
        json!([{
            "path": STOREFRONT_NAME,
            "kind": "replace",
            "old": "Acme Shop (local)",
            "new": "Acme Store (local)",
            "reason": "desired"
        }])
    );
    assert_eq!(
        acme["patch"],
        json!({"format": "rfc7396", "patch": {"servers": {"default": {"clients": {"storefront-spa": {"client_name": "Acme Store (local)"}}}}}})
    );
    for key in ["globex", "initech", "umbrella"] {
        assert_eq!(report_tenant(&report, key)["status"], "unchanged");
    }
    assert_eq!(
        report["summary"]["changes"],
        json!({"add": 0, "replace": 1, "remove": 0})
    );

    let (run, report) = apply(&repo, &[]);
    run.success();
    assert_eq!(
        outcomes(&report),
        owned_pairs(&[
            ("acme", "applied"),
            ("globex", "unchanged"),
            ("initech", "unchanged"),
            ("umbrella", "unchanged"),
        ])
    );
    assert_eq!(
        report_tenant(&report, "acme")["changes"],
        json!([{"path": STOREFRONT_NAME, "kind": "replace", "old": "Acme Shop (local)", "new": "Acme Store (local)", "reason": "desired"}])
    );
    // The platform holds it, the backup holds the tenant before it.
    assert_eq!(
        repo.emulator_tenant("acme-local").pointer(STOREFRONT_NAME),
        Some(&json!("Acme Store (local)"))
    );
    let backups = repo.backups("local", "acme");
    assert_eq!(backups.len(), 2);
    let backup: Value =
        serde_json::from_str(&std::fs::read_to_string(&backups[1]).unwrap()).unwrap();
    assert_eq!(
        backup.pointer(STOREFRONT_NAME),
        Some(&json!("Acme Shop (local)"))
    );

    let commits = repo.state_commits();
    assert_eq!(commits.len(), 2);
    assert_eq!(
        commits[0].1,
        format!(
            "apply local: 1 tenant(s) changed from {}\n\nacme (acme-local): +0 ~1 -0\n\nPromote-Environment: local\nPromote-Source: {head}\n",
            &head[..12]
        )
    );
    let files = repo.state_files();
    assert_eq!(files["local/acme.json"]["source_commit"], head.as_str());
    assert_eq!(
        files["local/acme.json"]["tree"].pointer(STOREFRONT_NAME),
        Some(&json!("Acme Store (local)"))
    );
    // The other tenants' records are carried over from the first apply.
    assert_ne!(files["local/globex.json"]["source_commit"], head.as_str());
    plan(&repo, &[]).0.success();
}

#[test]
fn removing_an_object_needs_allow_delete_and_a_large_removal_needs_force() {
    let (repo, _) = applied_example();
    let crm_sync = "/servers/default/clients/crm-sync";
    repo.remove("templates/acme/workspaces/default/clients/crm-sync.yaml");
    // A change for the other tenants in the same run: they are applied all the same.
    repo.edit(SAAS_WEB, SAAS_WEB_DESCRIPTION, SAAS_WEB_DESCRIPTION_NEW);

    let (run, report) = apply(&repo, &[]);
    run.code(1)
        .stderr_contains(&format!("the plan removes 1 object(s): {crm_sync}"))
        .stderr_contains("--allow-delete")
        .stderr_contains("; the others were applied. Do what each error says");
    assert_eq!(
        outcomes(&report),
        owned_pairs(&[
            ("acme", "failed"),
            ("globex", "applied"),
            ("initech", "applied"),
            ("umbrella", "applied"),
        ])
    );
    let acme = report_tenant(&report, "acme");
    assert_eq!(acme["status"], "error");
    assert_eq!(
        acme["errors"][0]["message"],
        format!("the plan removes 1 object(s): {crm_sync}")
    );
    assert!(acme["errors"][0]["hint"]
        .as_str()
        .unwrap()
        .contains("--allow-delete"));
    assert!(acme.get("backup").is_none(), "refused before any write");
    assert!(repo
        .emulator_tenant("acme-local")
        .pointer(crm_sync)
        .is_some());
    assert_eq!(repo.backups("local", "acme").len(), 1);
    // The others are recorded; acme's record still has the client.
    let files = repo.state_files();
    assert!(files["local/acme.json"]["tree"].pointer(crm_sync).is_some());
    assert_eq!(
        files["local/globex.json"]["tree"]
            .pointer("/servers/app/clients/web/description")
            .unwrap(),
        "Acme Cloud browser app for Globex Corporation"
    );
    let message = &repo.state_commits()[0].1;
    assert!(
        message.starts_with("apply local: 3 tenant(s) changed") && !message.contains("acme"),
        "{message}"
    );

    let (run, report) = apply(&repo, &["--allow-delete"]);
    run.success();
    assert_eq!(
        outcomes(&report),
        owned_pairs(&[
            ("acme", "applied"),
            ("globex", "unchanged"),
            ("initech", "unchanged"),
            ("umbrella", "unchanged"),
        ])
    );
    let changes = report_tenant(&report, "acme")["changes"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert_eq!(changes[0]["path"], crm_sync);
    assert_eq!(changes[0]["kind"], "remove");
    assert_eq!(changes[0]["reason"], "desired");
    assert_eq!(changes[0]["old"]["client_name"], "CRM profile sync");
    assert!(changes[0].get("new").is_none());
    assert!(repo
        .emulator_tenant("acme-local")
        .pointer(crm_sync)
        .is_none());
    assert!(repo.state_files()["local/acme.json"]["tree"]
        .pointer(crm_sync)
        .is_none());

    // A whole workspace is more than a fifth of acme's objects.
    repo.remove("templates/acme/workspaces/workforce");
    let (run, report) = apply(&repo, &["--allow-delete"]);
    run.code(1).stderr_contains("more than a fifth");
    let acme = report_tenant(&report, "acme");
    assert_eq!(acme["outcome"], "failed");
    let message = acme["errors"][0]["message"].as_str().unwrap();
    assert!(
        message.starts_with("the plan removes ")
            && message.contains("objects, more than a fifth: /servers/workforce, "),
        "{message}"
    );
    assert!(acme["errors"][0]["hint"]
        .as_str()
        .unwrap()
        .contains("--force"));
    assert!(repo
        .emulator_tenant("acme-local")
        .pointer("/servers/workforce")
        .is_some());

    let (run, report) = apply(&repo, &["--allow-delete", "--force"]);
    run.success();
    assert_eq!(report_tenant(&report, "acme")["outcome"], "applied");
    assert!(repo
        .emulator_tenant("acme-local")
        .pointer("/servers/workforce")
        .is_none());
    plan(&repo, &[]).0.success();
}

#[test]
fn dry_run_changes_nothing_and_records_nothing() {
    let (repo, _) = applied_example();
    repo.edit(SAAS_WEB, SAAS_WEB_DESCRIPTION, SAAS_WEB_DESCRIPTION_NEW);
    let before = data_bytes(&repo);
    let commits = repo.state_commits();

    let (run, report) = apply(&repo, &["--dry-run"]);
    run.success();
    assert_eq!(report["action"], "apply (dry run)");
    assert_eq!(
        outcomes(&report),
        owned_pairs(&[
            ("acme", "unchanged"),
            ("globex", "dry_run"),
            ("initech", "dry_run"),
            ("umbrella", "dry_run"),
        ])
    );
    let path = "/servers/app/clients/web/description";
    for (key, name) in [
        ("globex", "Globex Corporation"),
        ("initech", "Initech"),
        ("umbrella", "Umbrella Corporation"),
    ] {
        let t = report_tenant(&report, key);
        assert_eq!(t["status"], "changes");
        assert!(t.get("backup").is_none(), "a dry run saves no backup: {t}");
        assert_eq!(
            t["changes"],
            json!([{"path": path, "kind": "replace",
                    "old": format!("Acme Cloud web application for {name}"),
                    "new": format!("Acme Cloud browser app for {name}"),
                    "reason": "desired"}])
        );
    }
    assert_eq!(data_bytes(&repo), before);
    assert_eq!(repo.state_commits(), commits);
    assert_eq!(backup_counts(&repo), [1, 1, 1, 1]);

    // The changes are still to be made.
    let (run, report) = plan(&repo, &[]);
    run.code(2);
    for key in ["globex", "initech", "umbrella"] {
        assert_eq!(report_tenant(&report, key)["changes"][0]["path"], path);
    }
}

#[test]
fn dry_run_of_a_first_apply() {
    let (repo, _) = TestRepo::example_in_git();
    let (run, report) = apply(&repo, &["--dry-run"]);
    run.success();
    assert_eq!(
        outcomes(&report),
        owned_pairs(&[
            ("acme", "dry_run"),
            ("globex", "dry_run"),
            ("initech", "dry_run"),
            ("umbrella", "dry_run"),
        ])
    );
    assert!(repo.state_commits().is_empty());
}

#[test]
fn a_tenant_the_platform_refuses_fails_alone() {
    let (repo, _) = applied_example();
    // On the platform, someone binds globex's `active-users` policy to a hook the repository
    // does not manage. promote leaves that entry alone.
    let hook = "/servers/app/policy_execution_points/login_hook";
    repo.edit_emulator_tenant("globex-local", |t| {
        t["servers"]["app"]["policy_execution_points"]["login_hook"] = json!("active-users");
    });
    let (run, report) = plan(&repo, &[]);
    run.success();
    assert_eq!(report_tenant(&report, "globex")["status"], "unchanged");

    // The repository keeps `active-users` for silver customers only: valid for promote, but
    // removing it from globex would leave the platform's hook dangling.
    let policy = "templates/saas/workspaces/app/policies/active-users.yaml";
    let text = repo.read(policy);
    repo.write(
        policy,
        &format!("{{% if vars.plan != \"gold\" %}}{text}{{% endif %}}\n"),
    );
    repo.run(&["validate", "--env", "local"]).success();
    let before = data_bytes(&repo);
    let commits = repo.state_commits();

    // A dry run already reaches the platform's validation, and changes nothing.
    let (run, report) = apply(&repo, &["--allow-delete", "--dry-run"]);
    run.code(1);
    assert_eq!(
        outcomes(&report),
        owned_pairs(&[
            ("acme", "unchanged"),
            ("globex", "failed"),
            ("initech", "unchanged"),
            ("umbrella", "dry_run"),
        ])
    );
    assert_eq!(data_bytes(&repo), before);
    assert_eq!(repo.state_commits(), commits);

    let (run, report) = apply(&repo, &["--allow-delete"]);
    run.code(1)
        .stderr_contains("422 validation_failed")
        .stderr_contains(hook);
    assert_eq!(
        outcomes(&report),
        owned_pairs(&[
            ("acme", "unchanged"),
            ("globex", "failed"),
            ("initech", "unchanged"),
            ("umbrella", "applied"),
        ])
    );
    let message = report_tenant(&report, "globex")["errors"][0]["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        message
            .starts_with("the platform refused the change: PATCH /api/hub/globex-local/promote/")
            && message.contains("answered 422 validation_failed")
            && message.contains("unknown policy `active-users`")
            && message.contains(hook),
        "{message}"
    );
    let removed = "/servers/app/policies/active-users";
    // globex is as it was; umbrella lost the policy; only umbrella is recorded.
    assert_eq!(repo.emulator_bytes("globex-local"), before["globex-local"]);
    assert!(repo
        .emulator_tenant("umbrella-local")
        .pointer(removed)
        .is_none());
    let commits_after = repo.state_commits();
    assert_eq!(commits_after.len(), commits.len() + 1);
    assert!(
        commits_after[0]
            .1
            .starts_with("apply local: 1 tenant(s) changed")
            && commits_after[0]
                .1
                .contains("umbrella (umbrella-local): +0 ~0 -1")
            && !commits_after[0].1.contains("globex"),
        "{}",
        commits_after[0].1
    );
    let files = repo.state_files();
    assert!(files["local/globex.json"]["tree"]
        .pointer(removed)
        .is_some());
    assert!(files["local/umbrella.json"]["tree"]
        .pointer(removed)
        .is_none());
}

#[test]
fn an_invalid_tenant_stops_the_whole_apply() {
    let (repo, _) = applied_example();
    repo.edit(SAAS_WEB, SAAS_WEB_DESCRIPTION, SAAS_WEB_DESCRIPTION_NEW);
    repo.edit(
        "templates/acme/workspaces/default/idps/customers.yaml",
        "identity_pool_id: customers",
        "identity_pool_id: nosuchpool",
    );
    let before = data_bytes(&repo);
    let commits = repo.state_commits();
    let run = repo.run(&["apply", "--env", "local", "--yes"]);
    run.code(1)
        .stderr_contains("templates/acme/workspaces/default/idps/customers.yaml:5")
        .stderr_contains("unknown pool `nosuchpool`")
        .stderr_contains("nothing was applied");
    assert_eq!(run.stdout, "", "no report: nothing was attempted");
    assert_eq!(data_bytes(&repo), before);
    assert_eq!(repo.state_commits(), commits);
    assert_eq!(backup_counts(&repo), [1, 1, 1, 1]);
}

#[test]
fn apply_outside_git_fails_before_writing() {
    let repo = TestRepo::example();
    repo.run(&["apply", "--env", "local", "--yes"])
        .code(1)
        .stderr_contains("is not in a git repository")
        .stderr_contains("the last-applied state lives in git");
    for (_, tid) in LOCAL {
        assert!(!repo.join(&crate::support::emulator_file(tid)).exists());
    }
    assert!(!repo.join(".promote/backups").exists());
}

#[test]
fn apply_of_one_tenant_leaves_the_others_alone() {
    let (repo, _) = applied_example();
    repo.edit(SAAS_WEB, SAAS_WEB_DESCRIPTION, SAAS_WEB_DESCRIPTION_NEW);
    let before = data_bytes(&repo);
    // By key, and by platform ID.
    for selector in ["globex", "initech-local"] {
        let (run, report) = apply(&repo, &["--tenant", selector]);
        run.success();
        assert_eq!(report["summary"]["tenants"], 1);
        assert_eq!(report["tenants"][0]["outcome"], "applied");
    }
    assert_ne!(repo.emulator_bytes("globex-local"), before["globex-local"]);
    assert_ne!(
        repo.emulator_bytes("initech-local"),
        before["initech-local"]
    );
    assert_eq!(
        repo.emulator_bytes("umbrella-local"),
        before["umbrella-local"]
    );
    let commits = repo.state_commits();
    assert_eq!(commits.len(), 3);
    assert!(commits[0].1.contains("initech (initech-local)"));
    assert!(commits[1].1.contains("globex (globex-local)"));
    let (run, report) = plan(&repo, &[]);
    run.code(2);
    assert_eq!(report["summary"]["with_changes"], 1);
    assert_eq!(report_tenant(&report, "umbrella")["status"], "changes");
}

#[test]
fn the_promotion_gate_is_enforced() {
    let (repo, _) = TestRepo::example_in_git();
    let local = repo.read("environments/local.yaml");
    let gated = local.replace(
        "target:\n  emulator: .promote/emulator\n",
        "target:\n  emulator: .promote/gated\nrequires: local\n",
    );
    assert_ne!(gated, local);
    repo.write("environments/gated.yaml", &gated);
    repo.commit("a gated environment");
    // This commit was never applied to local.
    repo.run(&["apply", "--env", "gated", "--yes"])
        .code(1)
        .stderr_contains("environment `gated` requires `local`")
        .stderr_contains("promote apply --env local");
    assert!(repo.state_commits().is_empty());
    apply(&repo, &[]).0.success();
    repo.run(&["apply", "--env", "gated", "--yes"]).success();

    // A commit that changes only another environment's file passes on what local has.
    repo.write("environments/other.yaml", &local);
    repo.commit("another environment");
    repo.run(&["apply", "--env", "gated", "--yes"]).success();

    // A template change must reach local first; uncommitted, it is refused outright.
    repo.edit("templates/saas/tenant.yaml", "name: ", "name: Gated ");
    repo.run(&["apply", "--env", "gated", "--yes"])
        .code(1)
        .stderr_contains("uncommitted changes");
    repo.commit("a template change");
    repo.run(&["apply", "--env", "gated", "--yes"])
        .code(1)
        .stderr_contains("may not take this commit yet")
        .stderr_contains("last applied it from");
    apply(&repo, &[]).0.success();
    repo.run(&["apply", "--env", "gated", "--yes"]).success();

    // The gate is per tenant: local's globex alone took the next change, so gated may give it
    // to globex and to nobody else.
    repo.edit(
        "templates/saas/tenant.yaml",
        "name: Gated ",
        "name: Gated again ",
    );
    repo.commit("another template change");
    apply(&repo, &["--tenant", "globex"]).0.success();
    repo.run(&["apply", "--env", "gated", "--yes"])
        .code(1)
        .stderr_contains("2 tenant(s) may not take this commit yet: initech")
        .stderr_contains("umbrella")
        .never_shows("globex (");
    let applied = repo.run(&["apply", "--env", "gated", "--yes", "--tenant", "globex"]);
    applied.success();
    repo.run(&["apply", "--env", "gated", "--yes", "--tenant", "initech"])
        .code(1)
        .stderr_contains("initech");
    apply(&repo, &[]).0.success();
    repo.run(&["apply", "--env", "gated", "--yes"]).success();

    // A template comment renders the same for local: the gate is open without applying it.
    repo.edit(
        "templates/saas/tenant.yaml",
        "name: ",
        "{# reviewed #}name: ",
    );
    repo.commit("a template comment");
    repo.run(&["apply", "--env", "gated", "--yes"]).success();

    // A tenant with no twin in local waits for the whole of local.
    let with_extra = repo.read("environments/gated.yaml").replace(
        "tenants:\n",
        "tenants:\n  hooli:\n    id: hooli-gated\n    template: saas\n    vars: { customer_name: Hooli, plan: gold, domain: hooli.localhost, brand_color: \"#000000\", seats: 5 }\n",
    );
    repo.write("environments/gated.yaml", &with_extra);
    repo.commit("a tenant only gated has");
    repo.run(&["apply", "--env", "gated", "--yes"]).success();
    repo.edit(
        "templates/saas/tenant.yaml",
        "name: Gated again ",
        "name: Gated twice ",
    );
    repo.commit("a third template change");
    apply(&repo, &["--tenant", "globex"]).0.success();
    repo.run(&["apply", "--env", "gated", "--yes", "--tenant", "hooli"])
        .code(1)
        .stderr_contains("hooli (no twin in `local`)")
        .stderr_contains("waits until every tenant there");
    apply(&repo, &[]).0.success();
    repo.run(&["apply", "--env", "gated", "--yes"]).success();

    // A file git ignores is read like any other, so it is no more committed than an
    // untracked one.
    std::fs::write(repo.join(".git/info/exclude"), "backdoor.yaml\n").unwrap();
    let backdoor = "templates/saas/workspaces/app/clients/backdoor.yaml";
    repo.write(backdoor, "client_name: Backdoor\n");
    assert!(repo.git_status().is_empty());
    repo.run(&["apply", "--env", "gated", "--yes"])
        .code(1)
        .stderr_contains("uncommitted changes")
        .stderr_contains("backdoor.yaml");
    repo.remove(backdoor);
    repo.run(&["apply", "--env", "gated", "--yes"]).success();
}

#[test]
fn apply_renders_each_tenant_once() {
    let (repo, _) = TestRepo::example_in_git();
    repo.edit(SAAS_WEB, SAAS_WEB_DESCRIPTION, SAAS_WEB_DESCRIPTION_NEW);
    let run = repo.run_env(
        &["apply", "--env", "local", "--yes"],
        &[("PROMOTE_LOG", "promote_lib::prepare=debug")],
    );
    run.success();
    for (key, _) in LOCAL {
        let renders = run
            .stderr
            .lines()
            .filter(|l| l.contains("rendered") && l.contains(&format!("tenant={key}")))
            .count();
        assert_eq!(renders, 1, "{key}: {}", run.stderr);
    }
}

#[test]
fn the_patch_an_apply_reports_is_the_patch_it_sends() {
    let (repo, _) = applied_example();
    // A new workspace (imported after the patch) and a changed client (in the patch).
    let from = repo.join("templates/acme/workspaces/workforce");
    let to = repo.join("templates/acme/workspaces/partners");
    crate::support::copy_dir(&from, &to);
    repo.edit(STOREFRONT, "client_name: ", "client_name: Renamed ");
    let (run, planned) = plan(&repo, &[]);
    run.code(2);
    let shown = report_tenant(&planned, "acme")["patch"].clone();
    let (run, applied) = apply(&repo, &[]);
    run.success();
    let acme = report_tenant(&applied, "acme");
    assert_eq!(acme["outcome"], "applied", "{acme}");
    // The plan and the apply report carry the same tenant patch, split off the same new
    // workspace (apply's copy also holds the credentials it supplies to it, redacted).
    assert_eq!(acme["patch"]["patch"], shown["patch"]);
    assert_eq!(acme["patch"]["format"], shown["format"]);
    let ids = |p: &Value| {
        p["workspaces"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(&acme["patch"]), ids(&shown));
    let patch = &acme["patch"];
    assert!(patch["workspaces"]["partners"].is_object(), "{patch}");
    assert!(!patch["patch"].to_string().contains("partners"), "{patch}");
    // What the tenant holds now is what the report says was sent.
    let tenant = repo.emulator_tenant("acme-local");
    let name = &tenant["servers"]["default"]["clients"]["storefront-spa"]["client_name"];
    let sent = match patch["format"].as_str() {
        Some("rfc7396") => {
            patch["patch"]["servers"]["default"]["clients"]["storefront-spa"]["client_name"].clone()
        }
        _ => patch["patch"]
            .as_array()
            .unwrap()
            .iter()
            .find(|op| op["path"] == STOREFRONT_NAME)
            .unwrap()["value"]
            .clone(),
    };
    assert_eq!(name, &sent);
    assert!(name.as_str().unwrap().starts_with("Renamed "), "{name}");
    let imported = &patch["workspaces"]["partners"];
    let held = &tenant["servers"]["partners"];
    for (key, value) in imported.as_object().unwrap() {
        if value.is_object() || value.as_str() == Some("<redacted>") {
            continue;
        }
        assert_eq!(&held[key], value, "/servers/partners/{key}");
    }
}

/// Without --yes and without a terminal there is nobody to show the plan to: nothing is
/// applied, exit 1, and the message says to pass --yes. A dry run needs no consent.
#[test]
fn apply_without_yes_and_without_a_terminal_writes_nothing() {
    let (repo, _) = applied_example();
    repo.edit(SAAS_WEB, SAAS_WEB_DESCRIPTION, SAAS_WEB_DESCRIPTION_NEW);
    let before = data_bytes(&repo);
    let commits = repo.state_commits();
    let run = repo.run(&["apply", "--env", "local"]);
    run.code(1)
        .stderr_contains("nothing was applied")
        .stderr_contains("pass --yes");
    assert_eq!(run.stdout, "");
    assert_eq!(data_bytes(&repo), before);
    assert_eq!(repo.state_commits(), commits);
    assert_eq!(backup_counts(&repo), [1, 1, 1, 1]);
    repo.run(&["apply", "--env", "local", "--dry-run"])
        .success();
    assert_eq!(data_bytes(&repo), before);
    // Nothing to send: nothing to consent to.
    repo.edit(SAAS_WEB, SAAS_WEB_DESCRIPTION_NEW, SAAS_WEB_DESCRIPTION);
    repo.run(&["apply", "--env", "local"]).success();
}

/// A tenant last applied from a commit HEAD does not contain (another branch, an older
/// checkout) is named before the plan and the apply: what HEAD says replaces it.
#[test]
fn a_last_apply_from_elsewhere_is_named_before_it_is_reverted() {
    let (repo, base) = TestRepo::example_in_git();
    apply(&repo, &[]).0.success();
    repo.edit(SAAS_WEB, SAAS_WEB_DESCRIPTION, SAAS_WEB_DESCRIPTION_NEW);
    let theirs = repo.commit("their change");
    apply(&repo, &[]).0.success();
    // Back to the commit before theirs, as a colleague's checkout would be.
    repo.reset_hard(&base);
    let warning = format!(
        "last took commit {}, which {} does not contain",
        &theirs[..12],
        &base[..12]
    );
    let (run, _) = plan(&repo, &[]);
    run.code(2)
        .stderr_contains("globex, initech, umbrella in `local`")
        .stderr_contains(&warning)
        .never_shows("acme,");
    let (run, _) = apply(&repo, &[]);
    run.success()
        .stderr_contains(&warning)
        .stderr_contains("changes made only in that commit are reverted");
    // Once applied from here, nothing is foreign any more.
    plan(&repo, &[]).0.success().never_shows("does not contain");
}

/// A change the platform already holds (sent by a run stopped before it recorded, or made by
/// hand) is recorded with nothing sent, and the state's history says so.
#[test]
fn a_change_the_platform_already_holds_is_recorded_and_said() {
    let (repo, _) = applied_example();
    repo.edit(SAAS_WEB, SAAS_WEB_DESCRIPTION, SAAS_WEB_DESCRIPTION_NEW);
    repo.commit("a new description");
    for tid in ["globex-local", "initech-local", "umbrella-local"] {
        repo.edit_emulator_tenant(tid, |t| {
            let at = &mut t["servers"]["app"]["clients"]["web"]["description"];
            let now = at
                .as_str()
                .unwrap()
                .replace("web application", "browser app");
            *at = json!(now);
        });
    }
    let (run, report) = apply(&repo, &[]);
    run.success();
    assert_eq!(report["summary"]["unchanged"], 4, "{report}");
    let (_, message) = &repo.state_commits()[0];
    assert!(
        message.starts_with("apply local: 0 tenant(s) changed")
            && message.contains("globex (globex-local): recorded; the platform already held it"),
        "{message}"
    );
    plan(&repo, &[]).0.success();
}

/// The platform drops a field it does not know, and so does the emulator: a misspelled field
/// in a template applies without an error from the API, and the read-back after the write
/// says that the platform does not hold it.
/// A repository of one tenant `shop` on the embedded emulator, one workspace `app` whose one
/// client `web` is `client`, committed.
fn shop(client: &str) -> TestRepo {
    let repo = TestRepo::empty();
    repo.git_init()
        .write(
            "environments/local.yaml",
            "target:\n  emulator: .promote/emulator\ntenants:\n  shop: { id: shop-local }\n",
        )
        .write("templates/shop/tenant.yaml", "name: Shop\n")
        .write(
            "templates/shop/workspaces/app/workspace.yaml",
            "name: App\n",
        )
        .write("templates/shop/workspaces/app/clients/web.yaml", client);
    repo.commit("a shop");
    repo
}

#[test]
fn a_misspelled_field_is_caught_by_the_read_back() {
    let repo = shop("client_name: Web\ntoken_endpoint_auth_methd: client_secret_basic\n");
    let path = "/servers/app/clients/web/token_endpoint_auth_methd";
    let (run, report) = apply(&repo, &[]);
    run.code(1);
    let shop = report_tenant(&report, "shop");
    assert_eq!(shop["outcome"], "partly_applied", "{report}");
    let error = shop.to_string();
    assert!(error.contains("do not hold the desired value"), "{report}");
    assert!(
        error.contains(&format!(
            "`token_endpoint_auth_methd` at {path} (did you mean `token_endpoint_auth_method`?)"
        )),
        "{report}"
    );
    // What the platform holds is the rest of the client.
    let web = &repo.emulator_tenant("shop-local")["servers"]["app"]["clients"]["web"];
    assert_eq!(web["client_name"], "Web");
    assert!(web.get("token_endpoint_auth_methd").is_none(), "{web}");
}

/// Regression (issue 18, the independent try): a field written in another case (`Client_Name`)
/// is the platform's own field to the platform, but promote planned it as a new key and a
/// removal of `client_name`, and every apply failed its read-back. It is planned, applied and
/// compared in the platform's spelling.
#[test]
fn a_field_in_another_case_is_planned_as_the_platform_reads_it() {
    let repo = shop("client_name: Web\n");
    apply(&repo, &[]).0.success();
    repo.write(
        "templates/shop/workspaces/app/clients/web.yaml",
        "Client_Name: Web shop\n",
    );
    repo.commit("the client's name, in another case");
    let (run, report) = plan(&repo, &[]);
    run.code(2);
    assert_eq!(
        report_tenant(&report, "shop")["changes"],
        json!([{"path": "/servers/app/clients/web/client_name", "kind": "replace", "old": "Web", "new": "Web shop", "reason": "desired"}])
    );
    let (run, report) = apply(&repo, &[]);
    run.success();
    assert_eq!(report_tenant(&report, "shop")["outcome"], "applied");
    plan(&repo, &[]).0.success();
    repo.run(&["validate"])
        .success()
        .stderr_contains("`Client_Name` is `client_name` in another case");
}

/// A tenant's own credential that someone copied into a plain field (a client's description)
/// is in the export apply takes for its backup: apply then holds it, and no report of that
/// tenant shows it, in any format, nor the saved plan apply sends.
#[test]
fn a_tenant_credential_copied_into_a_plain_field_is_never_shown_by_apply() {
    let (repo, _) = applied_example();
    let live = repo.emulator_tenant("acme-local");
    let secret = live["servers"]["default"]["clients"]["orders-backend"]["client_secret"]
        .as_str()
        .expect("the platform made the client a secret")
        .to_owned();
    repo.edit_emulator_tenant("acme-local", |t| {
        let client = &mut t["servers"]["default"]["clients"]["orders-backend"];
        client["description"] = json!(format!("the secret is {secret}"));
        t["metadata"][secret.as_str()] = json!(secret.clone());
    });
    // The next apply restores the description: what it replaces is shown, redacted (the key
    // is the platform's own, left alone).
    let dry_run = [
        "apply",
        "--env",
        "local",
        "--tenant",
        "acme",
        "--dry-run",
        "--yes",
    ];
    for output in ["text", "json", "markdown"] {
        let args: Vec<&str> = dry_run
            .iter()
            .copied()
            .chain(["--output", output])
            .collect();
        repo.run(&args)
            .success()
            .stdout_contains("<redacted>")
            .never_shows(&secret);
    }
    let (run, report) = apply(&repo, &["--tenant", "acme"]);
    run.success().never_shows(&secret);
    assert_eq!(
        outcomes(&report),
        [("acme".to_owned(), "applied".to_owned())]
    );
    let description = &repo.emulator_tenant("acme-local")["servers"]["default"]["clients"]
        ["orders-backend"]["description"];
    assert!(
        !description.to_string().contains(&secret),
        "restored: {description}"
    );
}

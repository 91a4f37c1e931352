//! `promote rollback`: patch a tenant back to a backup apply saved before writing to it (the
//! latest by default, or one named with `--to`), saving the tenant first, leaving the state alone.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::apply::{
    applied_example, apply, plan, SAAS_WEB, SAAS_WEB_DESCRIPTION, SAAS_WEB_DESCRIPTION_NEW,
};
use crate::support::{report_tenant, Run, TestRepo};

const DESCRIPTION: &str = "/servers/app/clients/web/description";
const OLD: &str = "Acme Cloud web application for Globex Corporation";
const NEW: &str = "Acme Cloud browser app for Globex Corporation";

fn rollback(repo: &TestRepo, args: &[&str]) -> (Run, Value) {
    let mut all = vec!["rollback", "--env", "local", "--tenant", "globex", "--yes"];
    all.extend_from_slice(args);
    let run = repo.run_env(&[&["--output", "json"], &all[..]].concat(), &[]);
    let report = if run.stdout.is_empty() {
        Value::Null
    } else {
        run.stdout_json()
    };
    (run, report)
}

fn read(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn stem(path: &Path) -> String {
    path.file_stem().unwrap().to_str().unwrap().to_owned()
}

/// Applied once, then a saas change applied: returns the repository, globex as the first
/// apply left it, and globex's backups (the empty tenant, and the tenant before the change).
fn applied_twice() -> (TestRepo, Value, Vec<PathBuf>) {
    let (repo, _) = applied_example();
    let first = repo.emulator_tenant("globex-local");
    repo.edit(SAAS_WEB, SAAS_WEB_DESCRIPTION, SAAS_WEB_DESCRIPTION_NEW);
    apply(&repo, &[]).0.success();
    assert_eq!(
        repo.emulator_tenant("globex-local").pointer(DESCRIPTION),
        Some(&json!(NEW))
    );
    let backups = repo.backups("local", "globex");
    assert_eq!(backups.len(), 2);
    assert_eq!(
        read(&backups[1]),
        first,
        "the backup is the tenant as it was"
    );
    (repo, first, backups)
}

#[test]
fn rollback_restores_the_tenant_before_the_last_apply() {
    let (repo, first, backups) = applied_twice();
    let commits = repo.state_commits();

    let (run, report) = rollback(&repo, &[]);
    run.success();
    assert_eq!(report["action"], "rollback");
    assert_eq!(
        report["against"],
        format!("backup {}", backups[1].display())
    );
    let globex = report_tenant(&report, "globex");
    assert_eq!(globex["outcome"], "applied");
    assert_eq!(globex["changes"].as_array().unwrap().len(), 1, "{globex}");
    assert_eq!(globex["changes"][0]["path"], DESCRIPTION);
    assert_eq!(globex["changes"][0]["old"], NEW);
    assert_eq!(globex["changes"][0]["new"], OLD);

    // The tenant is exactly what the first apply left, credentials included.
    assert_eq!(repo.emulator_tenant("globex-local"), first);
    // The tenant before the rollback was saved first, so the rollback can be rolled back.
    let now = repo.backups("local", "globex");
    assert_eq!(now.len(), 3);
    assert_eq!(Path::new(globex["backup"].as_str().unwrap()), now[2]);
    assert_eq!(read(&now[2]).pointer(DESCRIPTION), Some(&json!(NEW)));
    // Only globex moved; the state is left alone.
    for tid in ["initech-local", "umbrella-local"] {
        assert_eq!(
            repo.emulator_tenant(tid).pointer(DESCRIPTION).unwrap(),
            &json!(NEW.replace(
                "Globex Corporation",
                if tid == "initech-local" {
                    "Initech"
                } else {
                    "Umbrella Corporation"
                }
            ))
        );
    }
    assert_eq!(repo.state_commits(), commits);

    // The repository still says NEW: the plan shows the rolled-back value as drift.
    let (run, report) = plan(&repo, &[]);
    run.code(2);
    assert_eq!(
        report_tenant(&report, "globex")["changes"],
        json!([{"path": DESCRIPTION, "kind": "replace", "old": OLD, "new": NEW, "reason": "drift"}])
    );
    for key in ["acme", "initech", "umbrella"] {
        assert_eq!(report_tenant(&report, key)["status"], "unchanged");
    }

    // Rolling back to what the tenant holds already changes nothing and saves nothing.
    let (run, report) = rollback(&repo, &["--to", &stem(&backups[1])]);
    run.success()
        .stderr_contains("the tenant already holds the backup");
    assert_eq!(report_tenant(&report, "globex")["outcome"], "unchanged");
    assert_eq!(repo.backups("local", "globex").len(), 3);
}

#[test]
fn rollback_to_a_named_backup() {
    let (repo, first, _) = applied_twice();
    rollback(&repo, &[]).0.success();
    let backups = repo.backups("local", "globex");
    let before_rollback = read(&backups[2]);

    // By name without `.json`: forward again, to the tenant before the rollback.
    let (run, _) = rollback(&repo, &["--to", &stem(&backups[2])]);
    run.success();
    assert_eq!(repo.emulator_tenant("globex-local"), before_rollback);
    plan(&repo, &[]).0.success();

    // By file name.
    let name = backups[1].file_name().unwrap().to_str().unwrap().to_owned();
    rollback(&repo, &["--to", &name]).0.success();
    assert_eq!(repo.emulator_tenant("globex-local"), first);

    // By path, kept anywhere with the file that says whose backup it is.
    std::fs::copy(&backups[2], repo.join("kept.json")).unwrap();
    let owner = |b: &Path| PathBuf::from(format!("{}.tenant", b.display()));
    std::fs::copy(owner(&backups[2]), repo.join("kept.json.tenant")).unwrap();
    let kept = repo.join("kept.json");
    rollback(&repo, &["--to", kept.to_str().unwrap()])
        .0
        .success();
    assert_eq!(repo.emulator_tenant("globex-local"), before_rollback);

    // Without it, or another tenant's: refused, nothing written (a rollback restores a tenant
    // whole, credentials included).
    let count = repo.backups("local", "globex").len();
    std::fs::remove_file(repo.join("kept.json.tenant")).unwrap();
    let (run, _) = rollback(&repo, &["--to", kept.to_str().unwrap()]);
    run.code(1)
        .stderr_contains("a backup whose tenant promote cannot tell, not of tenant `globex`");
    // Another tenant's backup under this tenant's owner file: its content gives it away.
    let acme = repo.backups("local", "acme").pop().unwrap();
    std::fs::copy(&acme, repo.join("kept.json")).unwrap();
    std::fs::copy(owner(&backups[2]), repo.join("kept.json.tenant")).unwrap();
    let (run, _) = rollback(&repo, &["--to", kept.to_str().unwrap()]);
    run.code(1)
        .stderr_contains("is not the backup")
        .stderr_contains("its content differs");
    let (run, _) = rollback(&repo, &["--to", acme.to_str().unwrap()]);
    run.code(1)
        .stderr_contains(
            "is a backup of tenant `acme` (acme-local) of local, not of tenant `globex`",
        )
        .stderr_contains("promote migrate");
    assert_eq!(repo.backups("local", "globex").len(), count);
    assert_eq!(repo.emulator_tenant("globex-local"), before_rollback);

    // An unknown name lists the latest backups, newest first.
    let count = repo.backups("local", "globex").len();
    let (run, _) = rollback(&repo, &["--to", "20200101T000000.000Z"]);
    let newest = repo.backups("local", "globex").pop().unwrap();
    run.code(1)
        .stderr_contains("no backup `20200101T000000.000Z` of tenant `globex` in local")
        .stderr_contains(&format!(
            "the latest backups: {}",
            newest.file_name().unwrap().to_str().unwrap()
        ));
    assert_eq!(repo.backups("local", "globex").len(), count);
}

#[test]
fn rollback_without_a_backup_says_how_to_get_one() {
    let (repo, _) = TestRepo::example_in_git();
    let (run, _) = rollback(&repo, &[]);
    run.code(1)
        .stderr_contains("tenant `globex` of local has no backup in")
        .stderr_contains("apply saves one before it first writes to a tenant");
    assert!(!repo.join(".promote/backups").exists());
    assert!(!repo
        .join(&crate::support::emulator_file("globex-local"))
        .exists());
}

#[test]
fn rollback_to_before_the_first_apply() {
    let (repo, _) = applied_example();
    let empty = repo.backups("local", "globex").remove(0);
    assert_eq!(read(&empty), json!({}));
    // It removes every object: apply's rules, --allow-delete and (more than a fifth) --force.
    let before = repo.emulator_tenant("globex-local");
    let (run, _) = rollback(&repo, &["--to", &stem(&empty)]);
    run.code(1)
        .stderr_contains("the plan removes 22 object(s)")
        .stderr_contains("--allow-delete");
    let (run, _) = rollback(&repo, &["--to", &stem(&empty), "--allow-delete"]);
    run.code(1).stderr_contains("more than a fifth");
    assert_eq!(repo.emulator_tenant("globex-local"), before);
    assert_eq!(
        repo.backups("local", "globex").len(),
        1,
        "nothing was saved either"
    );
    let (run, report) = rollback(&repo, &["--to", &stem(&empty), "--allow-delete", "--force"]);
    run.success();
    assert_eq!(report_tenant(&report, "globex")["outcome"], "applied");
    let now = repo.emulator_tenant("globex-local");
    assert!(
        now.get("servers").is_none() && now.get("name").is_none(),
        "{now}"
    );
}

const EXTRA: &str = "templates/saas/workspaces/app/clients/extra.yaml";
const EXTRA_CLIENT: &str = "/servers/app/clients/extra";

fn client_secret(tree: &Value, at: &str) -> Value {
    tree.pointer(&format!("{at}/client_secret"))
        .cloned()
        .unwrap_or(Value::Null)
}

/// Rolling back an apply that created a client removes it only with --allow-delete; the
/// output names the backup; a second rollback does not undo the first; --list shows them all.
#[test]
fn rollback_deletes_only_when_allowed_and_never_picks_its_own_backup() {
    let (repo, _) = applied_example();
    let backend = repo.read("templates/saas/workspaces/app/clients/app-backend.yaml");
    repo.write(EXTRA, &backend);
    let source = repo.commit("an extra client");
    apply(&repo, &[]).0.success();
    let created = repo.emulator_tenant("globex-local");
    assert!(client_secret(&created, EXTRA_CLIENT).is_string());
    let backups = repo.backups("local", "globex");
    assert_eq!(backups.len(), 2);

    // Without --allow-delete: refused, nothing written, nothing saved.
    let (run, report) = rollback(&repo, &[]);
    run.code(1)
        .stderr_contains(&format!("the plan removes 1 object(s): {EXTRA_CLIENT}"))
        .stderr_contains("--allow-delete");
    assert_eq!(report, Value::Null);
    assert_eq!(repo.emulator_tenant("globex-local"), created);
    assert_eq!(repo.backups("local", "globex").len(), 2);

    // With it: restored, and the output names the backup restored (json and text).
    let (run, report) = rollback(&repo, &["--allow-delete"]);
    run.success().stderr_contains(&format!(
        "restored backup {} to globex of local; the tenant as it was before is saved as backup",
        backups[1].display()
    ));
    assert_eq!(
        report["against"],
        format!("backup {}", backups[1].display())
    );
    assert_eq!(repo.emulator_tenant("globex-local"), read(&backups[1]));
    let own = repo.backups("local", "globex").pop().unwrap();
    assert_eq!(
        report_tenant(&report, "globex")["backup"],
        json!(own.display().to_string())
    );

    // A second rollback picks the apply's backup again, not the one the rollback took.
    let (run, report) = rollback(&repo, &["--allow-delete"]);
    run.success()
        .stderr_contains("the tenant already holds the backup");
    assert_eq!(
        report["against"],
        format!("backup {}", backups[1].display())
    );
    assert!(repo
        .emulator_tenant("globex-local")
        .pointer(EXTRA_CLIENT)
        .is_none());

    // --list: newest first, what took each, and the commit an apply applied.
    let (run, listed) = rollback(&repo, &["--list"]);
    run.success();
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), 3);
    let name = |p: &Path| p.file_name().unwrap().to_str().unwrap().to_owned();
    assert_eq!(listed[0]["name"], name(&own));
    assert_eq!(listed[0]["taken_by"], "rollback");
    assert_eq!(listed[1]["name"], name(&backups[1]));
    assert_eq!(listed[1]["taken_by"], "apply");
    assert_eq!(listed[1]["source"], source);
    assert_eq!(listed[2]["name"], name(&backups[0]));
    assert!(listed[0]["taken_at"].as_str().unwrap().ends_with('Z'));
    let text = repo.run(&["rollback", "--env", "local", "--tenant", "globex", "--list"]);
    text.success()
        .stdout_contains(&format!("{}  ", name(&own)))
        .stdout_contains("taken by rollback")
        .stdout_contains(&format!("taken by apply, source {}", &source[..12]));

    // Named explicitly, the rollback's own backup can be restored.
    rollback(&repo, &["--to", &stem(&own)]).0.success();
    assert_eq!(repo.emulator_tenant("globex-local"), created);
}

/// A client the repository dropped is re-created by a rollback with the backup's secret, and
/// the next apply leaves it so.
#[test]
fn rollback_restores_credentials_from_the_backup() {
    let (repo, _) = applied_example();
    let before = repo.emulator_tenant("globex-local");
    let at = "/servers/app/clients/reporting-export";
    let secret = client_secret(&before, at);
    assert!(secret.is_string(), "{before}");
    std::fs::remove_file(repo.join("templates/saas/workspaces/app/clients/reporting-export.yaml"))
        .unwrap();
    repo.commit("drop reporting-export");
    apply(&repo, &["--allow-delete"]).0.success();
    assert!(repo.emulator_tenant("globex-local").pointer(at).is_none());

    rollback(&repo, &[]).0.success();
    let restored = repo.emulator_tenant("globex-local");
    assert_eq!(
        client_secret(&restored, at),
        secret,
        "the backup's secret, not a new one"
    );

    // The repository no longer has the client, and the last apply removed it: the next apply
    // leaves it alone, secret and all.
    apply(&repo, &[]).0.success();
    assert_eq!(
        client_secret(&repo.emulator_tenant("globex-local"), at),
        secret
    );
}

/// Without --yes and without a terminal, nothing is rolled back (exit 1, saying to pass --yes).
#[test]
fn rollback_without_yes_and_without_a_terminal_writes_nothing() {
    let (repo, _, _) = applied_twice();
    let before = repo.emulator_tenant("globex-local");
    let count = repo.backups("local", "globex").len();
    repo.run(&["rollback", "--env", "local", "--tenant", "globex"])
        .code(1)
        .stderr_contains("nothing was rolled back")
        .stderr_contains("--yes");
    assert_eq!(repo.emulator_tenant("globex-local"), before);
    assert_eq!(repo.backups("local", "globex").len(), count);
}

/// Two work trees of one repository take turns under one lock on one platform; a rollback in
/// either finds the latest backup whichever took it.
#[test]
fn rollback_finds_the_backups_of_every_work_tree() {
    let (repo, _) = TestRepo::example_in_git();
    let platform = tempfile::tempdir().unwrap();
    let shared = repo.read("environments/local.yaml").replace(
        "emulator: .promote/emulator",
        &format!("emulator: {}", platform.path().display()),
    );
    repo.write("environments/shared.yaml", &shared);
    repo.commit("an environment both work trees apply to");
    repo.run(&["apply", "--env", "shared", "--yes"]).success();
    let git = git2::Repository::open(repo.path()).unwrap();
    git.worktree("other", &repo.join("other"), None).unwrap();
    let other = "other/templates/saas/workspaces/app/clients/web.yaml";
    repo.edit(other, SAAS_WEB_DESCRIPTION, SAAS_WEB_DESCRIPTION_NEW);
    repo.run_at("other", &["apply", "--env", "shared", "--yes"])
        .success();
    let listed = repo.run(&[
        "--output", "json", "rollback", "--env", "shared", "--tenant", "globex", "--list",
    ]);
    listed.success();
    let listed = listed.stdout_json();
    let newest = listed[0]["path"].as_str().unwrap();
    assert!(
        newest.contains("other/.promote/backups/shared/globex/"),
        "{listed}"
    );
    repo.run(&["rollback", "--env", "shared", "--tenant", "globex", "--yes"])
        .success()
        .shows("restored backup")
        .shows("other/.promote/backups/shared/globex/");
}

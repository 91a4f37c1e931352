//! Saved plans: `plan --save PLANFILE` then `apply --plan PLANFILE` against the shipped example's
//! embedded emulator. What is applied is exactly what was planned: a tenant whose platform
//! moved at a path the plan relies on is refused, a plan of another configuration is refused,
//! and the file never holds a credential.

use serde_json::{json, Value};

use crate::apply::{
    applied_example, plan, SAAS_WEB, SAAS_WEB_DESCRIPTION, SAAS_WEB_DESCRIPTION_NEW,
};
use crate::support::{outcomes, Run, TestRepo};

/// Where the tests save plans: git-ignored, like the emulator's data.
const PLAN: &str = ".promote/plan.json";

/// `plan --env local --save .promote/plan.json`.
fn save(repo: &TestRepo) -> Run {
    repo.run(&["plan", "--env", "local", "--save", PLAN])
}

/// `apply --plan .promote/plan.json --yes --output json ARGS`.
fn apply_plan(repo: &TestRepo, args: &[&str], envs: &[(&str, &str)]) -> (Run, Value) {
    let mut all = vec!["apply", "--plan", PLAN, "--yes"];
    all.extend_from_slice(args);
    repo.json_run(&all, envs)
}

/// The outcome of each tenant of an apply report, in the order of `environments/local.yaml`
/// (acme, globex, initech, umbrella).
fn by_tenant(report: &Value) -> Vec<String> {
    let all = outcomes(report);
    let keys: Vec<&str> = all.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["acme", "globex", "initech", "umbrella"]);
    all.into_iter().map(|(_, outcome)| outcome).collect()
}

/// The example applied once, then acme renamed and the saas web client's description changed
/// (globex, initech and umbrella), committed.
fn changed_example() -> (TestRepo, String) {
    let (repo, _) = applied_example();
    repo.edit(
        "templates/acme/tenant.yaml",
        "name: Acme Corp",
        "name: Acme Corporation",
    )
    .edit(SAAS_WEB, SAAS_WEB_DESCRIPTION, SAAS_WEB_DESCRIPTION_NEW);
    let head = repo.commit("rename acme, describe the web client");
    (repo, head)
}

#[test]
fn a_saved_plan_is_applied_exactly_and_recorded() {
    let (repo, head) = changed_example();
    save(&repo)
        .success()
        .stderr_contains("promote apply --plan .promote/plan.json");
    let file = repo.json(PLAN);
    assert_eq!(
        (file["kind"].as_str(), file["env"].as_str()),
        (Some("promote-plan"), Some("local"))
    );
    assert_eq!(file["commit"], head.as_str());
    let acme = &file["tenants"][0];
    assert_eq!(acme["key"], "acme");
    // The patch starts with a test of the value it replaces.
    assert_eq!(acme["change"]["patch"][0]["op"], "test");
    assert_eq!(acme["change"]["patch"][0]["path"], "/name");
    assert_eq!(acme["change"]["patch"][0]["value"], "Acme Corp (local)");

    let (run, report) = apply_plan(&repo, &[], &[]);
    run.success();
    assert_eq!(
        by_tenant(&report),
        ["applied", "applied", "applied", "applied"]
    );
    assert_eq!(
        repo.emulator_tenant("acme-local")["name"],
        "Acme Corporation (local)"
    );
    // Recorded from the plan's commit: the next plan has nothing to do.
    assert_eq!(repo.state_commits().len(), 2);
    assert!(
        repo.state_commits()[0].1.contains(&head[..12]),
        "{:?}",
        repo.state_commits()
    );
    plan(&repo, &[]).0.code(0);
}

/// A value the plan sets to null is sent, read back and reported as set, not as a removal
/// the platform failed to make (the plan file keeps the null).
#[test]
fn a_saved_plan_that_sets_a_value_to_null_is_applied() {
    let (repo, _) = applied_example();
    repo.edit(
        SAAS_WEB,
        "description: Acme Cloud web application for {{ vars.customer_name }}",
        "description: null",
    );
    repo.commit("no description");
    save(&repo).success();
    let (run, report) = apply_plan(&repo, &[], &[]);
    run.success();
    assert_eq!(
        by_tenant(&report),
        ["unchanged", "applied", "applied", "applied"]
    );
    let web = &repo.emulator_tenant("globex-local")["servers"]["app"]["clients"]["web"];
    assert_eq!(web["description"], Value::Null);
    let change = &report["tenants"][1]["changes"][0];
    assert_eq!(
        (&change["kind"], &change["new"]),
        (&json!("replace"), &Value::Null),
        "{report:#}"
    );
    plan(&repo, &[]).0.code(0);
}

#[test]
fn a_tenant_whose_platform_moved_at_a_planned_path_is_refused_and_the_others_applied() {
    let (repo, _) = changed_example();
    save(&repo).success();
    // By hand, after the review: acme's name (which the plan replaces), and a field of globex
    // the plan does not touch.
    repo.edit_emulator_tenant("acme-local", |t| t["name"] = json!("Acme by hand"));
    repo.edit_emulator_tenant("globex-local", |t| {
        t["metadata"]["seats"] = json!(51);
    });
    let acme_before = repo.emulator_bytes("acme-local");
    let (run, report) = apply_plan(&repo, &[], &[]);
    run.code(1)
        .stderr_contains("/name (was \"Acme Corp (local)\" when planned, now \"Acme by hand\")")
        .stderr_contains("promote plan --env local --tenant acme --save FILE");
    assert_eq!(
        by_tenant(&report),
        ["failed", "applied", "applied", "applied"]
    );
    assert_eq!(
        repo.emulator_bytes("acme-local"),
        acme_before,
        "nothing sent to acme"
    );
    let globex = repo.emulator_tenant("globex-local");
    assert_eq!(
        globex["metadata"]["seats"], 51,
        "what the plan does not touch stays"
    );
    assert!(globex.to_string().contains("Acme Cloud browser app for"));
}

#[test]
fn a_saved_plan_run_again_finds_what_it_did_already_applied() {
    let (repo, _) = changed_example();
    save(&repo).success();
    let (run, _) = apply_plan(&repo, &[], &[]);
    run.success();
    let states = repo.state_commits().len();
    let before = repo.emulator_bytes("acme-local");
    // The job run again: every tenant already holds the plan; nothing sent, nothing refused.
    let (run, report) = apply_plan(&repo, &[], &[]);
    run.success();
    assert_eq!(
        by_tenant(&report),
        ["unchanged", "unchanged", "unchanged", "unchanged"]
    );
    assert_eq!(report["tenants"][0]["already_applied"], true);
    assert_eq!(repo.emulator_bytes("acme-local"), before);
    assert_eq!(repo.state_commits().len(), states, "already recorded");
    repo.run(&["apply", "--plan", PLAN, "--yes"])
        .success()
        .stdout_contains("acme (acme-local): already holds this plan");
    let run = repo.run(&["apply", "--plan", PLAN, "--yes", "--output", "markdown"]);
    run.success()
        .stdout_contains("| `acme` | `acme-local` | already holds this plan |");
    assert!(!run.stdout.contains("```diff\n```"), "{}", run.stdout);
}

#[test]
fn a_change_a_colleague_made_by_hand_is_already_applied_and_recorded() {
    let (repo, _) = changed_example();
    save(&repo).success();
    // The same rename, by hand, before the plan is applied.
    repo.edit_emulator_tenant("acme-local", |t| {
        t["name"] = json!("Acme Corporation (local)");
    });
    let (run, report) = apply_plan(&repo, &[], &[]);
    run.success();
    assert_eq!(
        by_tenant(&report),
        ["unchanged", "applied", "applied", "applied"]
    );
    // Recorded as applied: the next plan has nothing to do, not even for acme.
    plan(&repo, &[]).0.code(0);
    assert!(
        repo.state_commits()[0]
            .1
            .contains("acme (acme-local): recorded; the platform already held it"),
        "{:?}",
        repo.state_commits()
    );
}

#[test]
fn a_plan_that_removes_objects_says_apply_needs_allow_delete() {
    let (repo, _) = applied_example();
    // The saas template's web client goes: globex, initech and umbrella lose it.
    repo.remove(SAAS_WEB);
    repo.commit("drop the web client");
    save(&repo)
        .success()
        .stdout_contains("3 object(s) removed: apply needs --allow-delete");
    repo.run(&["plan", "--env", "local", "--output", "markdown"])
        .success()
        .stdout_contains("**3 object(s) removed: apply needs --allow-delete**");
    let (_, report) = plan(&repo, &[]);
    assert_eq!(report["summary"]["objects_removed"], 3);
    let before = repo.emulator_bytes("globex-local");
    repo.run(&["apply", "--plan", PLAN, "--yes"])
        .code(1)
        .stdout_contains("needs --allow-delete")
        .stderr_contains("a removal needs `promote apply --plan FILE --allow-delete`");
    assert_eq!(repo.emulator_bytes("globex-local"), before);
    let (run, report) = apply_plan(&repo, &["--allow-delete"], &[]);
    run.success();
    assert_eq!(
        by_tenant(&report),
        ["unchanged", "applied", "applied", "applied"]
    );
    assert!(report["summary"].get("objects_removed").is_none());
}

#[test]
fn a_plan_of_another_configuration_is_refused_unless_allowed() {
    let (repo, planned) = changed_example();
    save(&repo).success();
    // A commit that changes no configuration: the same plan applies.
    repo.write("NOTES.md", "reviewed\n");
    repo.commit("notes");
    let (run, _) = apply_plan(&repo, &["--dry-run"], &[]);
    run.success().stderr_contains("has the same configuration");
    // A commit that changes the configuration: refused, nothing sent.
    repo.edit(
        "templates/acme/tenant.yaml",
        "name: Acme Corporation",
        "name: Acme Inc",
    );
    repo.commit("rename acme again");
    let before = repo.emulator_bytes("acme-local");
    let run = repo.run(&["apply", "--plan", PLAN, "--yes"]);
    run.code(1)
        .stderr_contains(&format!("the plan was made from commit {}", &planned[..12]))
        .stderr_contains("--allow-other-commit");
    assert_eq!(repo.emulator_bytes("acme-local"), before);
    // Allowed: what was planned (not HEAD) is applied and recorded.
    let (run, _) = apply_plan(&repo, &["--allow-other-commit"], &[]);
    run.success();
    assert_eq!(
        repo.emulator_tenant("acme-local")["name"],
        "Acme Corporation (local)"
    );
}

#[test]
fn a_plan_file_holds_markers_never_credential_values() {
    let (repo, _) = TestRepo::example_in_git();
    let secret = (
        "PROMOTE_SECRET_ACME_GOOGLE_SECRET",
        "google-s3cret-never-in-a-plan",
    );
    repo.run_env(&["plan", "--env", "local", "--save", PLAN], &[secret])
        .success();
    let text = repo.read(PLAN);
    assert!(!text.contains(secret.1));
    assert!(text.contains("<secret:ACME_GOOGLE_SECRET>"));
    let (run, report) = apply_plan(&repo, &[], &[secret]);
    run.success().never_shows(secret.1);
    assert!(report["tenants"][0]["secrets"]
        .as_array()
        .unwrap()
        .contains(&json!("/servers/default/idps/google/credentials")));
    // The platform got the value itself.
    let acme = String::from_utf8(repo.emulator_bytes("acme-local")).unwrap();
    assert!(acme.contains(secret.1));
    plan(&repo, &[]).0.code(0);
}

#[test]
fn a_refused_tenant_lists_no_secret_as_sent() {
    let (repo, _) = applied_example();
    let secret = (
        "PROMOTE_SECRET_ACME_GOOGLE_SECRET",
        "google-s3cret-never-in-a-plan",
    );
    // Acme's google idp deleted by hand: the plan creates it again, with its secret.
    let idps = |t: &mut Value| {
        t["servers"]["default"]["idps"]
            .as_object_mut()
            .unwrap()
            .remove("google")
    };
    repo.edit_emulator_tenant("acme-local", |t| {
        idps(t);
    });
    repo.run_env(&["plan", "--env", "local", "--save", PLAN], &[secret])
        .success();
    assert!(repo.read(PLAN).contains("<secret:ACME_GOOGLE_SECRET>"));
    // Someone adds another google idp by hand where the plan adds its own.
    repo.edit_emulator_tenant("acme-local", |t| {
        t["servers"]["default"]["idps"]["google"] = json!({"name": "by hand", "method": "google"});
    });
    let run = repo.run_env(&["apply", "--plan", PLAN, "--yes"], &[secret]);
    run.code(1)
        .stdout_contains("acme (acme-local): failed")
        .stdout_contains("/servers/default/idps/google (was absent when planned")
        .stderr_contains("; nothing was applied.")
        .stderr_contains("`promote plan --env local --tenant acme --save FILE`");
    let out = run.stdout.clone();
    let acme = &out[out.find("acme (acme-local)").unwrap()..];
    let acme = &acme[..acme.find("\n\n").unwrap_or(acme.len())];
    assert!(!acme.contains("secrets sent"), "{acme}");
}

#[test]
fn a_plan_is_saved_only_from_committed_configuration_against_live() {
    let (repo, _) = TestRepo::example_in_git();
    repo.edit(SAAS_WEB, SAAS_WEB_DESCRIPTION, SAAS_WEB_DESCRIPTION_NEW);
    save(&repo)
        .code(1)
        .stderr_contains("uncommitted changes")
        .stderr_contains("web.yaml");
    assert!(!repo.join(PLAN).exists());
    repo.commit("describe");
    // From the attacker's try: a file git ignores is still rendered, and is not the commit's.
    repo.write(".git/info/exclude", "crm3.yaml\n");
    repo.write(
        "templates/acme/workspaces/default/webhooks/crm3.yaml",
        "url: https://crm3.example/hook\n",
    );
    save(&repo)
        .code(1)
        .stderr_contains("uncommitted changes")
        .stderr_contains("templates/acme/workspaces/default/webhooks/crm3.yaml");
    std::fs::remove_file(repo.join("templates/acme/workspaces/default/webhooks/crm3.yaml"))
        .unwrap();
    repo.run(&[
        "plan",
        "--env",
        "local",
        "--against",
        "rev:HEAD",
        "--save",
        PLAN,
    ])
    .code(1)
    .stderr_contains("against live");
}

#[test]
fn a_wrong_or_tampered_plan_file_is_refused_clearly() {
    let (repo, _) = changed_example();
    repo.write(PLAN, "garbage");
    repo.run(&["apply", "--plan", PLAN, "--yes"])
        .code(1)
        .stderr_contains("plan.json is not a promote plan file");
    save(&repo).success();
    repo.run(&["apply", "--plan", PLAN, "--env", "prod", "--yes"])
        .code(1)
        .stderr_contains("a plan of environment `local`, not `prod`");
    // Edited: a tenant ID the commit does not give that tenant, or a tenant named twice.
    let planned = repo.json(PLAN);
    for edit in [
        |f: &mut Value| f["tenants"][0]["id"] = json!("globex-local"),
        |f: &mut Value| {
            let first = f["tenants"][0].clone();
            f["tenants"].as_array_mut().unwrap().push(first);
        },
    ] {
        let mut file = planned.clone();
        edit(&mut file);
        repo.write(PLAN, &serde_json::to_string(&file).unwrap());
        repo.run(&["apply", "--plan", PLAN, "--yes"])
            .code(1)
            .stderr_contains("names tenant `acme`")
            .stderr_contains("the plan file was edited");
    }
    // Edited: the desired tree's digest no longer matches what the commit renders.
    let mut file = planned;
    file["tenants"][0]["change"]["desired_sha1"] = json!("0".repeat(40));
    repo.write(PLAN, &serde_json::to_string(&file).unwrap());
    let before = repo.emulator_bytes("acme-local");
    let (run, report) = apply_plan(&repo, &[], &[]);
    run.code(1).stderr_contains("no longer renders");
    assert_eq!(
        outcomes(&report)[0],
        ("acme".to_owned(), "failed".to_owned())
    );
    assert_eq!(repo.emulator_bytes("acme-local"), before);
}

/// The status of each environment of a ci report, in promotion order.
fn env_statuses(report: &Value) -> Vec<String> {
    report["environments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["status"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn ci_saves_the_pull_requests_plans_and_applies_exactly_them_on_merge() {
    let (repo, base) = crate::ci::fleet();
    repo.edit(
        "templates/acme/tenant.yaml",
        "name: Acme Corp",
        "name: Acme Corporation",
    );
    let head = repo.commit("rename acme");
    let dir = ".promote/plans";
    let (run, report) = crate::ci::ci(&repo, &base, &head, &["--save", dir]);
    run.success();
    assert_eq!(env_statuses(&report), ["planned", "planned", "planned"]);
    for env in ["dev", "staging", "prod"] {
        let file = repo.json(&format!("{dir}/{env}.plan.json"));
        assert_eq!(
            (file["env"].as_str(), file["commit"].as_str()),
            (Some(env), Some(head.as_str()))
        );
        let keys: Vec<&str> = file["tenants"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["key"].as_str().unwrap())
            .collect();
        assert_eq!(keys, ["acme"]);
    }
    let (run, report) = crate::ci::ci(&repo, &base, &head, &["--apply", "--plan", dir, "--yes"]);
    run.success();
    assert_eq!(env_statuses(&report), ["applied", "applied", "applied"]);
    let acme = repo.json(".promote/emulator-prod/tenants/acme-prod.json");
    assert_eq!(
        acme["name"],
        "Acme Corporation (prod)".replace(" (prod)", "")
    );

    // The next change is reviewed, then someone edits dev by hand before the merge: dev is
    // refused, and the environments after it are not run.
    repo.edit(
        "templates/acme/tenant.yaml",
        "name: Acme Corporation",
        "name: Acme Inc",
    );
    let next = repo.commit("rename acme again");
    crate::ci::ci(&repo, &head, &next, &["--save", dir])
        .0
        .success();
    let dev = ".promote/emulator-dev/tenants/acme-dev.json";
    let mut tree = repo.json(dev);
    tree["name"] = json!("Acme by hand");
    repo.write(dev, &serde_json::to_string(&tree).unwrap());
    let (run, report) = crate::ci::ci(&repo, &head, &next, &["--apply", "--plan", dir, "--yes"]);
    run.code(1).stderr_contains("/name (was").stderr_contains(
        "`promote plan --env dev --tenant acme --save FILE`, then `promote apply --plan FILE`",
    );
    assert_eq!(env_statuses(&report), ["failed", "not_run", "not_run"]);
    assert_eq!(repo.json(dev)["name"], "Acme by hand");
    // The recovery the closing line gives: plan the tenant again, review, apply that plan.
    let fix = ".promote/dev-acme.plan.json";
    repo.run(&["plan", "--env", "dev", "--tenant", "acme", "--save", fix])
        .success()
        .stdout_contains("Acme by hand");
    repo.run(&["apply", "--plan", fix, "--yes"]).success();
    assert_eq!(repo.json(dev)["name"], "Acme Inc (dev)");
    // The job run again: dev already holds its plan; staging and prod are applied.
    let (run, report) = crate::ci::ci(&repo, &head, &next, &["--apply", "--plan", dir, "--yes"]);
    run.success();
    assert_eq!(env_statuses(&report), ["applied", "applied", "applied"]);

    // A plan of another configuration than head's is refused before anything runs.
    repo.edit(
        "templates/acme/tenant.yaml",
        "name: Acme Inc",
        "name: Acme Ltd",
    );
    let other = repo.commit("rename acme a third time");
    let args = [
        "ci", "--base", &next, "--head", &other, "--apply", "--plan", dir, "--yes",
    ];
    repo.run(&args)
        .code(1)
        .stderr_contains("has another configuration");
}

/// From the attacker's try: a plan file whose description was emptied ("unchanged") and whose
/// patch removes the tenant's clients was applied without `--allow-delete` and reported as
/// unchanged; a `secret()` marker added in a plain field sent the secret's value there. The
/// patch must send what the plan's commit renders, as the description shows it.
#[test]
fn an_edited_patch_is_refused_and_nothing_is_sent() {
    let (repo, _) = changed_example();
    save(&repo).success();
    let planned = repo.json(PLAN);
    let acme = |f: &Value| {
        f["tenants"]
            .as_array()
            .unwrap()
            .iter()
            .position(|t| t["key"] == "acme")
            .unwrap()
    };
    let i = acme(&planned);
    for (edit, hide, says) in [
        (
            json!([{"op": "remove", "path": "/servers/default/clients/storefront-spa"}]),
            false,
            "removes /servers/default/clients/storefront-spa, which the plan's commit holds",
        ),
        (
            json!([{"op": "add", "path": "/metadata/leak", "value": "<secret:ACME_WEBHOOK2_KEY>"}]),
            false,
            "writes at /metadata/leak what the plan's commit does not hold there",
        ),
        (
            json!([]),
            true,
            "its patch writes at /name (replace), which its changes do not show",
        ),
    ] {
        let mut file = planned.clone();
        let change = &mut file["tenants"][i]["change"];
        if hide {
            change["changes"] = json!([]);
            change["counts"] = json!({"add": 0, "replace": 0, "remove": 0});
            change["status"] = json!("unchanged");
        }
        change["assumes"] = json!([]);
        change["patch"]
            .as_array_mut()
            .unwrap()
            .extend(edit.as_array().unwrap().iter().cloned());
        repo.write(PLAN, &serde_json::to_string(&file).unwrap());
        let before = repo.emulator_bytes("acme-local");
        let (run, report) = apply_plan(
            &repo,
            &[],
            &[("PROMOTE_SECRET_ACME_WEBHOOK2_KEY", "SuperSecretValue12345")],
        );
        run.code(1)
            .stderr_contains(says)
            .stderr_contains("an edited plan file")
            .never_shows("SuperSecretValue12345");
        assert!(outcomes(&report).contains(&("acme".to_owned(), "failed".to_owned())));
        assert_eq!(repo.emulator_bytes("acme-local"), before);
    }
}

/// From the re-check: a plan saved under `templates/` was read back as configuration (a
/// `.yaml` one as a pool of a tenant) and made the next `plan --save` refuse.
#[test]
fn a_plan_file_is_never_written_into_the_configuration() {
    let (repo, _) = changed_example();
    for place in ["templates/saas/pools/evil.yaml", "environments/x.plan.json"] {
        repo.run(&["plan", "--env", "local", "--save", place])
            .code(1)
            .stderr_contains("a plan file is not written under");
        assert!(!repo.join(place).exists());
    }
    repo.run(&[
        "ci",
        "--base",
        "HEAD~1",
        "--env",
        "local",
        "--save",
        "templates/saas/ciplans",
    ])
    .code(1)
    .stderr_contains("a plan file is not written under templates/");
    assert!(!repo.join("templates/saas/ciplans").exists());
}

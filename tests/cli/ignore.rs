//! Ignore rules (`ignore:` in an environment file, and in a template's `promote.yaml`) and
//! `--drift restore|keep`: paths another system manages are never planned, applied or
//! reported as drift, and a plan can keep what the platform changed.

use serde_json::{json, Value};

use crate::apply::{applied_example, apply, plan};
use crate::support::{report_tenant, TestRepo};

const CLIENT: &str = "/servers/default/clients/storefront-spa";
const REDIRECTS_RULE: &str = "/servers/*/clients/*/redirect_uris";
const DEPLOYED: &str = "https://deployed.example/callback";

/// The example applied, then a deploy pipeline sets the storefront's redirect URIs on the
/// platform.
fn deployed_over_applied_example() -> TestRepo {
    let (repo, _) = applied_example();
    repo.edit_emulator_tenant("acme-local", |t| {
        t["servers"]["default"]["clients"]["storefront-spa"]["redirect_uris"] = json!([DEPLOYED]);
    });
    repo
}

/// The `field` of each item of the array `items`.
fn strings<'a>(items: &'a serde_json::Value, field: &str) -> Vec<&'a str> {
    items
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|item| item[field].as_str())
        .collect()
}

fn live_redirects(repo: &TestRepo) -> serde_json::Value {
    repo.emulator_tenant("acme-local")["servers"]["default"]["clients"]["storefront-spa"]
        ["redirect_uris"]
        .clone()
}

/// Plans the example (no rule, drift restored) and checks that acme's first change restores
/// the client's `redirect_uris` as drift; returns the JSON report.
fn plans_the_pipelines_value_back(repo: &TestRepo) -> Value {
    let (run, report) = plan(repo, &[]);
    run.code(2);
    let acme = report_tenant(&report, "acme");
    assert_eq!(
        acme["changes"][0]["path"],
        format!("{CLIENT}/redirect_uris")
    );
    assert_eq!(acme["changes"][0]["reason"], "drift");
    report
}

#[test]
fn a_path_a_deploy_pipeline_sets_is_left_alone() {
    let repo = deployed_over_applied_example();
    // Without a rule, the pipeline's value is drift that apply would revert.
    plans_the_pipelines_value_back(&repo);

    let env = repo.read("environments/local.yaml");
    repo.write(
        "environments/local.yaml",
        &format!(
            "{env}ignore:\n  - path: {REDIRECTS_RULE}\n    reason: set by the deploy pipeline\n"
        ),
    );
    repo.commit("leave the redirect URIs to the deploy pipeline");

    let (run, report) = plan(&repo, &[]);
    run.success();
    assert_eq!(report["summary"]["with_changes"], 0);
    assert_eq!(
        report["ignore"],
        json!([{"path": REDIRECTS_RULE, "reason": "set by the deploy pipeline", "source": "environments/local.yaml"}])
    );
    repo.run(&["plan", "--env", "local"])
        .success()
        .stdout_contains("ignored paths (never planned, applied or reported as drift):")
        .stdout_contains(&format!(
            "  {REDIRECTS_RULE} (environments/local.yaml: set by the deploy pipeline)"
        ));
    repo.run(&["plan", "--env", "local", "--output", "markdown"])
        .success()
        .stdout_contains("    ignored paths")
        .stdout_contains(&format!("      {REDIRECTS_RULE} (environments/local.yaml"));
    repo.run(&["plan", "--env", "local", "--output", "html"])
        .success()
        .stdout_contains(REDIRECTS_RULE);

    // A repository change elsewhere in the same client is applied; the pipeline's value stays,
    // and the apply is recorded without the ignored path, so nothing is drift afterwards.
    repo.edit(
        "templates/acme/workspaces/default/clients/storefront-spa.yaml",
        "description: React storefront at",
        "description: React shop at",
    );
    repo.commit("rename the storefront");
    let (run, report) = apply(&repo, &[]);
    run.success();
    assert_eq!(report["ignore"][0]["path"], REDIRECTS_RULE);
    let acme = report_tenant(&report, "acme");
    assert_eq!(acme["outcome"], "applied");
    let paths: Vec<&str> = strings(&acme["changes"], "path");
    assert_eq!(paths, [format!("{CLIENT}/description")]);
    assert_eq!(live_redirects(&repo), json!([DEPLOYED]));
    repo.run(&["drift", "--env", "local"])
        .success()
        .stdout_contains("4 in sync");
    let (run, report) = repo.json_run(&["drift", "--env", "local", "--output", "json"], &[]);
    run.success();
    assert_eq!(report["ignore"][0]["path"], REDIRECTS_RULE);
    // The pipeline changes them again: still nothing to do.
    repo.edit_emulator_tenant("acme-local", |t| {
        t["servers"]["default"]["clients"]["storefront-spa"]["redirect_uris"] =
            json!(["https://next.example/cb"]);
    });
    plan(&repo, &[]).0.success();
    repo.run(&["drift", "--env", "local"]).success();
}

#[test]
fn a_templates_promote_yaml_applies_in_every_environment() {
    let repo = deployed_over_applied_example();
    repo.write(
        "templates/acme/promote.yaml",
        &format!("# fields other systems manage in every acme tenant\nignore:\n  - {REDIRECTS_RULE}\n  - {CLIENT}/description\n"),
    );
    repo.commit("acme's rules");
    // The settings file is read for its rules, never as part of the tenant's tree.
    repo.run(&["validate"]).success();
    repo.run(&[
        "render", "--env", "staging", "--tenant", "acme", "--out", "out",
    ])
    .success();
    assert!(!repo.join("out/staging/acme/promote.yaml").exists());

    let (run, report) = plan(&repo, &[]);
    run.success();
    assert_eq!(report["ignore"][0]["source"], "templates/acme/promote.yaml");
    assert_eq!(live_redirects(&repo), json!([DEPLOYED]));

    // In staging too (planned against the repository's last commit): the repository's change
    // to an ignored path is not planned, its other changes are, and the header lists the rules.
    repo.edit(
        "templates/acme/workspaces/default/clients/storefront-spa.yaml",
        "description: React storefront at",
        "description: React shop at",
    );
    repo.edit(
        "templates/acme/workspaces/default/clients/storefront-spa.yaml",
        "team: web-storefront",
        "team: web-shop",
    );
    let (run, report) = repo.json_run(
        &[
            "plan",
            "--env",
            "staging",
            "--against",
            "rev:HEAD",
            "--tenant",
            "acme",
        ],
        &[],
    );
    run.success();
    let acme = report_tenant(&report, "acme");
    let paths: Vec<&str> = strings(&acme["changes"], "path");
    assert_eq!(paths, [format!("{CLIENT}/metadata/team")]);
    let rules: Vec<&str> = strings(&report["ignore"], "path");
    let description = format!("{CLIENT}/description");
    assert_eq!(rules, [REDIRECTS_RULE, description.as_str()]);
}

#[test]
fn a_bad_rule_is_refused_where_it_is_written() {
    let (repo, _) = TestRepo::example_in_git();
    let env = repo.read("environments/local.yaml");
    repo.write(
        "environments/local.yaml",
        &format!("{env}ignore:\n  - servers/*/clients\n"),
    );
    let lines = env.lines().count();
    repo.run(&["plan", "--env", "local"])
        .code(1)
        .stderr_contains(&format!(
            "environments/local.yaml:{}:5: ignore rule `servers/*/clients` does not start with `/`",
            lines + 2
        ));
    repo.write("environments/local.yaml", &env);
    repo.write("templates/acme/promote.yaml", "ignore:\n  - /a//b\n");
    repo.run(&["plan", "--env", "local"])
        .code(1)
        .stderr_contains("templates/acme/promote.yaml:2:5: ignore rule `/a//b` has an empty key");
    // validate checks every environment, and says a template's error once.
    let run = repo.run(&["validate"]);
    run.code(1);
    assert_eq!(
        run.stderr.matches("ignore rule `/a//b`").count(),
        1,
        "{}",
        run.stderr
    );
    repo.write("templates/acme/promote.yaml", "ignores: []\n");
    repo.run(&["plan", "--env", "local"])
        .code(1)
        .stderr_contains("templates/acme/promote.yaml:1:1: invalid template settings");
}

#[test]
fn drift_keep_applies_only_what_the_repository_changed() {
    let repo = deployed_over_applied_example();
    repo.edit(
        "templates/acme/workspaces/default/clients/storefront-spa.yaml",
        "description: React storefront at",
        "description: React shop at",
    );
    repo.commit("rename the storefront");

    repo.run(&["plan", "--env", "local", "--drift", "keep"])
        .success()
        .stdout_contains(&format!(
            "{CLIENT}/redirect_uris (drift: kept the platform's value, --drift keep)"
        ));
    let (run, report) = apply(&repo, &["--drift", "keep"]);
    run.success();
    assert_eq!(report["drift"], "keep");
    let acme = report_tenant(&report, "acme");
    assert_eq!(acme["outcome"], "applied");
    assert_eq!(acme["changes"].as_array().unwrap().len(), 1);
    assert_eq!(acme["changes"][0]["path"], format!("{CLIENT}/description"));
    assert_eq!(acme["kept"][0]["path"], format!("{CLIENT}/redirect_uris"));
    assert_eq!(live_redirects(&repo), json!([DEPLOYED]));
    let live = repo.emulator_tenant("acme-local");
    assert!(
        live["servers"]["default"]["clients"]["storefront-spa"]["description"]
            .as_str()
            .unwrap()
            .starts_with("React shop at")
    );

    // The next plan with keep has nothing to do, but still shows the drift it keeps (this
    // test pinned only the header before: a tenant with nothing but kept drift was hidden,
    // while the README says keep "lists it as kept"); with restore (the default) the drift
    // shows as a change.
    let (run, report) = plan(&repo, &["--drift", "keep"]);
    run.success();
    assert_eq!(report["summary"]["with_changes"], 0);
    repo.run(&["plan", "--env", "local", "--drift", "keep"])
        .success()
        .stdout_contains("drift: keep")
        .stdout_contains("acme (acme-local): drift kept\n")
        .stdout_contains(&format!(
            "{CLIENT}/redirect_uris (drift: kept the platform's value, --drift keep)"
        ));
    repo.run(&[
        "plan", "--env", "local", "--drift", "keep", "--output", "markdown",
    ])
    .success()
    .stdout_contains("| `acme` | `acme-local` | drift kept |");
    let report = plans_the_pipelines_value_back(&repo);
    assert!(report.get("drift").is_none());
}

/// `promote ci` plans each environment with its rules and drift policy, in each header; a
/// template's rules are a change of that template's tenants.
#[test]
fn ci_reports_show_the_rules_and_the_drift_policy() {
    let (repo, base) = crate::ci::fleet();
    repo.write(
        "templates/acme/promote.yaml",
        &format!("ignore:\n  - {REDIRECTS_RULE}\n"),
    );
    let head = repo.commit("acme: leave the redirect URIs to the deploy pipeline");
    let (run, report) = crate::ci::ci(&repo, &base, &head, &["--drift", "keep"]);
    run.success();
    let envs = report["environments"].as_array().unwrap();
    assert_eq!(envs.len(), 3);
    for env in envs {
        let header = &env["report"];
        assert_eq!(header["drift"], "keep", "{env}");
        assert_eq!(header["ignore"][0]["path"], REDIRECTS_RULE, "{env}");
        // Read from the head commit, named with it.
        assert_eq!(
            header["ignore"][0]["source"],
            format!("templates/acme/promote.yaml@{head}")
        );
        let keys: Vec<&str> = strings(&header["tenants"], "key");
        assert_eq!(keys, ["acme"]);
    }
}

/// A template's `promote.yaml` is the repository's own: export writes around it, never over
/// it, and never removes it when the platform changed.
#[test]
fn export_never_writes_or_removes_a_templates_promote_yaml() {
    let (repo, _) = applied_example();
    repo.run(&["export", "--env", "local", "--out", "exported"])
        .success();
    let rules = format!("ignore:\n  - {REDIRECTS_RULE}\n");
    repo.write("exported/acme/promote.yaml", &rules);
    repo.edit_emulator_tenant("acme-local", |t| {
        t["name"] = json!("Acme renamed on the platform");
    });
    repo.run(&["export", "--env", "local", "--out", "exported"])
        .success();
    assert_eq!(repo.read("exported/acme/promote.yaml"), rules);
    assert!(repo
        .read("exported/acme/tenant.yaml")
        .contains("Acme renamed on the platform"));
}

/// Appends `ignore: [RULE]` to environment `env`'s file.
fn ignore_in(repo: &TestRepo, env: &str, rule: &str) {
    let path = format!("environments/{env}.yaml");
    let text = repo.read(&path);
    repo.write(&path, &format!("{text}ignore:\n  - {rule}\n"));
}

const WEB: &str = "/servers/app/clients/web";

/// A rollback restores the backup except the paths the rules leave alone, and checks the
/// tenant against the backup without them.
#[test]
fn rollback_leaves_ignored_paths_alone() {
    use crate::apply::{SAAS_WEB, SAAS_WEB_DESCRIPTION, SAAS_WEB_DESCRIPTION_NEW};
    let (repo, _) = applied_example();
    let before = repo.emulator_tenant("globex-local");
    repo.edit(SAAS_WEB, SAAS_WEB_DESCRIPTION, SAAS_WEB_DESCRIPTION_NEW);
    apply(&repo, &[]).0.success();
    repo.edit_emulator_tenant("globex-local", |t| {
        t["servers"]["app"]["clients"]["web"]["redirect_uris"] = json!([DEPLOYED]);
    });
    ignore_in(&repo, "local", REDIRECTS_RULE);
    let (run, report) = repo.json_run(
        &["rollback", "--env", "local", "--tenant", "globex", "--yes"],
        &[],
    );
    run.success();
    assert_eq!(report["ignore"][0]["path"], REDIRECTS_RULE);
    let after = repo.emulator_tenant("globex-local");
    let description = format!("{WEB}/description");
    assert_eq!(after.pointer(&description), before.pointer(&description));
    assert_eq!(
        after.pointer(&format!("{WEB}/redirect_uris")),
        Some(&json!([DEPLOYED]))
    );
}

/// A migration imports the whole tenant, and the destination's rules keep their paths as the
/// destination has them.
#[test]
fn migrate_keeps_the_destinations_ignored_paths() {
    let (repo, _) = applied_example();
    let local = repo.read("environments/local.yaml");
    repo.write(
        "environments/other.yaml",
        &local.replace("emulator: .promote/emulator", "emulator: .promote/other"),
    );
    let migrate = [
        "migrate",
        "--from",
        "local:acme",
        "--to",
        "other:acme",
        "--yes",
    ];
    repo.run(&migrate).success();
    let file = repo.join(".promote/other/tenants/acme-local.json");
    let mut other: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    other["servers"]["default"]["clients"]["storefront-spa"]["redirect_uris"] = json!([DEPLOYED]);
    std::fs::write(&file, serde_json::to_vec(&other).unwrap()).unwrap();
    ignore_in(&repo, "other", REDIRECTS_RULE);
    repo.run(&[&migrate[..], &["--mode", "update"]].concat())
        .success();
    let other: serde_json::Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert_eq!(
        other.pointer(&format!("{CLIENT}/redirect_uris")),
        Some(&json!([DEPLOYED]))
    );
}

//! `promote validate`: the shipped example is valid, and every error of every tenant is
//! reported in one run.

use serde_json::json;

use crate::support::TestRepo;

#[test]
fn example_is_valid_in_every_environment() {
    let repo = TestRepo::example();
    repo.run(&["validate"])
        .success()
        .stderr_contains("12 tenant(s) in 3 environment(s): valid");
    repo.run(&["validate", "--env", "prod"])
        .success()
        .stderr_contains("4 tenant(s) in 1 environment(s): valid");
    repo.run(&["validate", "--env", "prod", "--env", "staging"])
        .success()
        .stderr_contains("8 tenant(s) in 2 environment(s): valid");
}

#[test]
fn json_output_of_a_valid_repository() {
    let repo = TestRepo::example();
    let run = repo.run(&["validate", "--output", "json"]);
    run.success();
    assert_eq!(
        run.stdout_json(),
        json!({
            "valid": true,
            "tenants_checked": 12,
            "environments": ["local", "prod", "staging"],
            "errors": [],
        })
    );
}

/// Three templates broken in three different ways, and one that is fine.
fn three_broken_tenants() -> TestRepo {
    let repo = TestRepo::empty();
    repo.write(
        "environments/prod.yaml",
        "target:\n  url: https://prod.example.test\nvars:\n  domain: example.com\n",
    )
    .write("templates/fine/tenant.yaml", "name: fine\n")
    .write(
        "templates/undefined/tenant.yaml",
        "name: undefined\nurl: https://{{ vars.missing_host }}\n",
    )
    .write(
        "templates/badyaml/tenant.yaml",
        "name: badyaml\nmetadata: {a: 1\n",
    )
    .write("templates/leaky/tenant.yaml", "name: leaky\n")
    .write(
        "templates/leaky/workspaces/main/workspace.yaml",
        "name: Main\n",
    )
    .write(
        "templates/leaky/workspaces/main/clients/backend.yaml",
        "client_name: Backend\nclient_secret: hunter2-in-git\n",
    );
    repo
}

#[test]
fn reports_every_broken_tenant_in_one_run() {
    let repo = three_broken_tenants();
    let run = repo.run(&["validate"]);
    run.code(1)
        .stderr_contains("templates/undefined/tenant.yaml:2:17: Variable `vars.missing_host` not found in context (env prod, tenant undefined)")
        .stderr_contains("templates/badyaml/tenant.yaml:")
        .stderr_contains("invalid YAML")
        .stderr_contains("(env prod, tenant badyaml)")
        .stderr_contains("templates/leaky/workspaces/main/clients/backend.yaml:2:1: plain-text credential in the repository (env prod, tenant leaky)")
        .stderr_contains("4 tenant(s) in 1 environment(s): 3 error(s)");
    assert_eq!(run.stderr.matches("error: ").count(), 3, "{run}");
    // The credential is named, never shown.
    run.never_shows("hunter2-in-git");
    insta::assert_snapshot!(repo.snapshot(&run));
}

#[test]
fn json_output_lists_every_error_with_its_location() {
    let repo = three_broken_tenants();
    let run = repo.run(&["validate", "--output", "json"]);
    run.code(1);
    let report = run.stdout_json();
    assert_eq!(report["valid"], json!(false));
    assert_eq!(report["tenants_checked"], json!(4));
    let mut errors: Vec<(String, String)> = report["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            assert_eq!(e["env"], json!("prod"), "{e}");
            (
                e["tenant"].as_str().unwrap().to_owned(),
                e["location"]["file"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    errors.sort();
    assert_eq!(
        errors,
        [
            ("badyaml", "templates/badyaml/tenant.yaml"),
            (
                "leaky",
                "templates/leaky/workspaces/main/clients/backend.yaml"
            ),
            ("undefined", "templates/undefined/tenant.yaml"),
        ]
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
    );
    let leaky = report["errors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["tenant"] == "leaky")
        .unwrap();
    assert_eq!(
        leaky["pointer"],
        json!("/servers/main/clients/backend/client_secret")
    );
    assert_eq!(leaky["location"]["line"], json!(2));
    run.never_shows("hunter2-in-git");
}

#[test]
fn one_broken_environment_does_not_hide_the_others() {
    let repo = TestRepo::example();
    repo.edit(
        "environments/staging.yaml",
        "  concurrency: 4\n",
        "  concurrency: four\n",
    );
    repo.run(&["validate"])
        .code(1)
        .stderr_contains("environments/staging.yaml:")
        .stderr_contains("concurrency")
        // local and prod are still checked.
        .stderr_contains("8 tenant(s) in 3 environment(s): 1 error(s)");
}

#[test]
fn templates_compile_once_for_every_environment() {
    let repo = TestRepo::example();
    let run = repo.run_env(
        &["validate"],
        &[("PROMOTE_LOG", "promote_lib::render=debug")],
    );
    run.success()
        .stderr_contains("12 tenant(s) in 3 environment(s): valid");
    assert_eq!(run.stderr.matches("templates compiled").count(), 1, "{run}");
}

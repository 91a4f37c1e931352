//! `promote ci --base REV --head REV`: only the tenants a change affects, in promotion order,
//! on real git histories (merges and renames included), through three environments whose
//! targets are each an embedded emulator.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::support::{Run, TestRepo};

/// The environments of [`fleet`], in promotion order.
const ENVS: [&str; 3] = ["dev", "staging", "prod"];

/// The tenants of every environment of [`fleet`].
const TENANTS: [&str; 4] = ["acme", "globex", "initech", "umbrella"];

/// The shipped example's templates with three environments made from `local.yaml`: dev,
/// staging (`requires: dev`) and prod (`requires: staging`), each with its own embedded
/// emulator; committed. Returns the repository and the commit.
pub fn fleet() -> (TestRepo, String) {
    let repo = TestRepo::example();
    let local = repo.read("environments/local.yaml");
    for old in ["local", "staging", "prod"] {
        repo.remove(&format!("environments/{old}.yaml"));
    }
    for (env, requires) in [
        ("dev", None),
        ("staging", Some("dev")),
        ("prod", Some("staging")),
    ] {
        let mut text = local
            .replace(
                "emulator: .promote/emulator",
                &format!("emulator: .promote/emulator-{env}"),
            )
            .replace("-local", &format!("-{env}"));
        if let Some(r) = requires {
            text = text.replacen("\nvars:\n", &format!("\nrequires: {r}\nvars:\n"), 1);
        }
        repo.write(&format!("environments/{env}.yaml"), &text);
    }
    repo.git_init();
    let head = repo.commit("three environments");
    (repo, head)
}

/// Commits a change of one tenant's entry (initech's seats in prod) and returns the commit.
fn more_seats_in_prod(repo: &TestRepo) -> String {
    repo.edit("environments/prod.yaml", "seats: 10", "seats: 12");
    repo.commit("initech: more seats in prod")
}

/// `promote --output json ci --base BASE --head HEAD ARGS`.
pub fn ci(repo: &TestRepo, base: &str, head: &str, args: &[&str]) -> (Run, Value) {
    let mut all = vec!["ci", "--base", base, "--head", head];
    all.extend_from_slice(args);
    repo.json_run(&all, &[])
}

/// Environment → the tenant keys its report lists (planned or applied), for every environment
/// that ran any.
fn ran(report: &Value) -> BTreeMap<String, Vec<String>> {
    let mut out = BTreeMap::new();
    for env in report["environments"].as_array().unwrap() {
        let keys: Vec<String> = env["report"]["tenants"]
            .as_array()
            .map(|ts| {
                ts.iter()
                    .map(|t| t["key"].as_str().unwrap().to_owned())
                    .collect()
            })
            .unwrap_or_default();
        if !keys.is_empty() {
            out.insert(env["env"].as_str().unwrap().to_owned(), keys);
        }
    }
    out
}

/// The same keys in every environment named.
fn in_envs(envs: &[&str], keys: &[&str]) -> BTreeMap<String, Vec<String>> {
    envs.iter()
        .map(|e| {
            (
                (*e).to_owned(),
                keys.iter().map(|k| (*k).to_owned()).collect(),
            )
        })
        .collect()
}

/// Environment → status, in the report's order.
fn statuses(report: &Value) -> Vec<(String, String)> {
    report["environments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["env"].as_str().unwrap().to_owned(),
                e["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// The first line of each state commit, oldest first.
fn applies(repo: &TestRepo) -> Vec<String> {
    let mut lines: Vec<String> = repo
        .state_commits()
        .into_iter()
        .map(|(_, m)| m.lines().next().unwrap_or_default().to_owned())
        .collect();
    lines.reverse();
    lines
}

#[test]
fn a_change_to_one_tenants_template_plans_only_its_tenants() {
    let (repo, base) = fleet();
    repo.edit("templates/acme/tenant.yaml", "name:", "# reviewed\nname:");
    let head = repo.commit("acme: a comment");
    let (run, report) = ci(&repo, &base, &head, &[]);
    run.success();
    assert_eq!(ran(&report), in_envs(&ENVS, &["acme"]));
    assert_eq!(report["head"], head.as_str());
    assert_eq!(report["base"], base.as_str());
}

#[test]
fn a_shared_partial_plans_exactly_the_tenants_including_it_also_through_a_chain() {
    let (repo, _) = fleet();
    // saas reaches _shared/leaf.yaml only through _shared/chain.yaml.
    let tenant = repo.read("templates/saas/tenant.yaml");
    repo.write("templates/_shared/leaf.yaml", "x_leaf: 1\n")
        .write(
            "templates/_shared/chain.yaml",
            "{% include \"_shared/leaf.yaml\" %}",
        )
        .write(
            "templates/saas/tenant.yaml",
            &format!("{tenant}\n{{% include \"_shared/chain.yaml\" %}}\n"),
        );
    let base = repo.commit("a chain of partials");
    repo.write("templates/_shared/leaf.yaml", "x_leaf: 2\n");
    let head = repo.commit("change the leaf");
    let (run, report) = ci(&repo, &base, &head, &["--env", "dev"]);
    run.success();
    assert_eq!(
        ran(&report),
        in_envs(&["dev"], &["globex", "initech", "umbrella"])
    );

    // A partial only acme includes.
    let partial = "templates/_shared/claims/email_verified.yaml";
    let text = repo.read(partial);
    repo.write(partial, &format!("{{# acme only #}}\n{text}"));
    let next = repo.commit("an acme-only partial");
    let (run, report) = ci(&repo, &head, &next, &["--env", "dev"]);
    run.success();
    assert_eq!(ran(&report), in_envs(&["dev"], &["acme"]));

    // A partial nothing includes affects nothing.
    repo.write("templates/_shared/unused.yaml", "x: 1\n");
    let added = repo.commit("an unused partial");
    repo.write("templates/_shared/unused.yaml", "x: 2\n");
    let changed = repo.commit("an unused partial, changed");
    let (run, report) = ci(&repo, &added, &changed, &[]);
    run.success();
    assert_eq!(ran(&report), BTreeMap::new());
}

#[test]
fn an_environment_variable_plans_all_of_that_environment_and_none_of_another() {
    let (repo, base) = fleet();
    repo.edit(
        "environments/staging.yaml",
        "locale: en-US",
        "locale: de-DE",
    );
    let head = repo.commit("staging: German by default");
    let (run, report) = ci(&repo, &base, &head, &[]);
    run.success();
    assert_eq!(ran(&report), in_envs(&["staging"], &TENANTS));
    assert_eq!(
        statuses(&report),
        [
            ("dev", "unaffected"),
            ("staging", "planned"),
            ("prod", "unaffected")
        ]
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
    );
}

#[test]
fn a_tenant_entry_change_plans_only_that_tenant() {
    let (repo, base) = fleet();
    let head = more_seats_in_prod(&repo);
    let (run, report) = ci(&repo, &base, &head, &[]);
    run.success();
    assert_eq!(ran(&report), in_envs(&["prod"], &["initech"]));
}

#[test]
fn merge_commits_and_renames_are_handled() {
    let (repo, base) = fleet();
    // Two branches from base: one changes globex in dev, the other renames a saas file.
    repo.edit("environments/dev.yaml", "seats: 50 }", "seats: 60 }");
    let ours = repo.commit("globex: more seats");
    repo.edit("environments/dev.yaml", "seats: 60 }", "seats: 50 }");
    let web = "templates/saas/workspaces/app/clients/web.yaml";
    let text = repo.read(web);
    repo.remove(web)
        .write("templates/saas/workspaces/app/clients/web-app.yaml", &text);
    let theirs = repo.commit_with("rename a client file", &[&base], false);
    // The merge has both.
    repo.edit("environments/dev.yaml", "seats: 50 }", "seats: 60 }");
    let merge = repo.commit_with("merge", &[&ours, &theirs], true);
    let (run, report) = ci(&repo, &ours, &merge, &["--env", "dev"]);
    run.success();
    // From the first parent, the merge brings the rename: every saas tenant.
    assert_eq!(
        ran(&report),
        in_envs(&["dev"], &["globex", "initech", "umbrella"])
    );
    // From the merge base, both sides.
    let (run, report) = ci(&repo, &base, &merge, &[]);
    run.success();
    assert_eq!(ran(&report)["dev"], ["globex", "initech", "umbrella"]);
    assert_eq!(ran(&report)["prod"], ["globex", "initech", "umbrella"]);

    // A renamed template directory: its tenants are affected, the others are not.
    repo.run(&[
        "ci", "--base", &base, "--head", &merge, "--apply", "--yes", "--env", "dev",
    ])
    .success();
    std::fs::rename(repo.join("templates/saas"), repo.join("templates/cloud")).unwrap();
    let dev = repo.read("environments/dev.yaml");
    repo.write(
        "environments/dev.yaml",
        &dev.replace("template: saas", "template: cloud"),
    );
    let renamed = repo.commit("saas is now cloud");
    let (run, report) = ci(&repo, &merge, &renamed, &["--env", "dev"]);
    run.success();
    assert_eq!(
        ran(&report),
        in_envs(&["dev"], &["globex", "initech", "umbrella"])
    );
    // The rendering did not change, so neither does the platform.
    assert_eq!(report["summary"]["with_changes"], 0);
}

#[test]
fn apply_goes_environment_by_environment_and_gates_hold() {
    let (repo, base) = fleet();
    repo.edit("templates/acme/tenant.yaml", "name:", "# v2\nname:");
    let head = repo.commit("acme v2");

    // prod alone: staging never saw this commit.
    let (run, report) = ci(&repo, &base, &head, &["--apply", "--yes", "--env", "prod"]);
    run.code(1)
        .stderr_contains("environment `prod` requires `staging`")
        .stderr_contains("may not take this commit yet: acme (never applied to `staging`)")
        .stderr_contains("promote apply --env staging");
    assert_eq!(
        statuses(&report),
        [("prod".to_owned(), "failed".to_owned())]
    );
    assert!(applies(&repo).is_empty());
    assert!(!repo
        .join(".promote/emulator-prod/tenants/acme-prod.json")
        .exists());

    // All three, in order.
    let (run, report) = ci(&repo, &base, &head, &["--apply", "--yes"]);
    run.success();
    assert_eq!(ran(&report), in_envs(&ENVS, &["acme"]));
    let short = &head[..12];
    assert_eq!(
        applies(&repo),
        ENVS.map(|e| format!("apply {e}: 1 tenant(s) changed from {short}"))
    );
    assert!(repo
        .join(".promote/emulator-prod/tenants/acme-prod.json")
        .exists());

    // The gate is per tenant: a prod-only change to initech, whose twin in staging never
    // applied anything, is refused.
    repo.edit("environments/prod.yaml", "seats: 10", "seats: 11");
    let seats = repo.commit("prod: initech seats");
    ci(&repo, &head, &seats, &["--apply", "--yes", "--env", "prod"])
        .0
        .code(1)
        .stderr_contains("initech (never applied to `staging`)");
    // A prod-only change to acme, which staging runs as this commit renders it, is accepted.
    repo.edit(
        "environments/prod.yaml",
        "large_order_threshold: 1000",
        "large_order_threshold: 2000",
    );
    let prod_only = repo.commit("prod: acme orders");
    let (run, report) = ci(
        &repo,
        &seats,
        &prod_only,
        &["--apply", "--yes", "--env", "prod"],
    );
    run.success();
    assert_eq!(ran(&report), in_envs(&["prod"], &["acme"]));

    // A change staging renders differently, applied to dev only: prod is refused, staging
    // (which requires dev) is accepted.
    repo.edit("templates/acme/tenant.yaml", "IAM-4410", "IAM-4411");
    let v3 = repo.commit("acme v3");
    ci(
        &repo,
        &prod_only,
        &v3,
        &["--apply", "--yes", "--env", "dev"],
    )
    .0
    .success();
    ci(
        &repo,
        &prod_only,
        &v3,
        &["--apply", "--yes", "--env", "prod"],
    )
    .0
    .code(1)
    .stderr_contains("requires `staging`");
    ci(
        &repo,
        &prod_only,
        &v3,
        &["--apply", "--yes", "--env", "staging"],
    )
    .0
    .success();
    ci(
        &repo,
        &prod_only,
        &v3,
        &["--apply", "--yes", "--env", "prod"],
    )
    .0
    .success();
}

#[test]
fn a_comment_only_change_is_recorded_so_the_next_gate_opens() {
    let (repo, base) = fleet();
    ci(&repo, &base, &base, &[]).0.success();
    let zero = "0000000000000000000000000000000000000000";
    // Everything from nothing: the first push of the branch.
    let (run, report) = ci(&repo, zero, &base, &["--apply", "--yes"]);
    run.success();
    assert_eq!(ran(&report), in_envs(&ENVS, &TENANTS));
    assert_eq!(report["base"], Value::Null);
    // A template comment: acme renders the same, so nothing is sent, but each environment
    // records that it has the commit, and prod's gate opens.
    repo.edit(
        "templates/acme/tenant.yaml",
        "name:",
        "{# a Tera comment #}\nname:",
    );
    let head = repo.commit("a comment");
    let (run, report) = ci(&repo, &base, &head, &["--apply", "--yes"]);
    run.success();
    assert_eq!(statuses(&report).len(), 3);
    assert_eq!(report["summary"]["with_changes"], 0);
    let short = &head[..12];
    let last: Vec<String> = applies(&repo).into_iter().rev().take(3).collect();
    assert_eq!(
        last,
        ["prod", "staging", "dev"].map(|e| format!("apply {e}: 0 tenant(s) changed from {short}"))
    );
    // The same commit again records nothing more.
    let before = applies(&repo).len();
    ci(&repo, &base, &head, &["--apply", "--yes"]).0.success();
    assert_eq!(applies(&repo).len(), before);
}

#[test]
fn the_first_failing_environment_stops_the_ones_after_it() {
    let (repo, base) = fleet();
    repo.edit("templates/acme/tenant.yaml", "name:", "# v2\nname:");
    // staging's platform is unreachable.
    repo.edit(
        "environments/staging.yaml",
        "emulator: .promote/emulator-staging",
        "url: http://127.0.0.1:9\n  client_id_env: PROMOTE_CI_TEST_ID\n  client_secret_env: PROMOTE_CI_TEST_SECRET",
    );
    let head = repo.commit("acme v2, staging elsewhere");
    let (run, report) = repo.json_run(
        &["ci", "--base", &base, "--head", &head, "--apply", "--yes"],
        &[
            ("PROMOTE_CI_TEST_ID", "id"),
            ("PROMOTE_CI_TEST_SECRET", "secret"),
        ],
    );
    run.code(1)
        .stderr_contains("`staging` failed; the environments after it were not run");
    assert_eq!(
        statuses(&report),
        [
            ("dev", "applied"),
            ("staging", "failed"),
            ("prod", "not_run")
        ]
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
    );
    assert!(!repo.join(".promote/emulator-prod/tenants").exists());
    assert_eq!(applies(&repo).len(), 1);
}

#[test]
fn an_invalid_head_applies_nothing_anywhere() {
    let (repo, base) = fleet();
    repo.edit("templates/acme/tenant.yaml", "name:", "# v2\nname:");
    // acme's prod entry loses a variable its template needs.
    repo.edit("environments/prod.yaml", "crm_webhook_url:", "crm_webhook:");
    let head = repo.commit("a broken prod entry");
    let run = repo.run(&["ci", "--base", &base, "--head", &head, "--apply", "--yes"]);
    run.code(1)
        .stderr_contains("nothing was applied: the head commit has errors");
    assert!(applies(&repo).is_empty());
    for env in ENVS {
        assert!(
            !repo
                .join(&format!(".promote/emulator-{env}/tenants"))
                .exists(),
            "{env}"
        );
    }
}

#[test]
fn a_deleted_tenant_entry_is_reported_and_forgotten_only_with_allow_delete() {
    let (repo, base) = fleet();
    let zero = "0000000000000000000000000000000000000000";
    ci(&repo, zero, &base, &["--apply", "--yes", "--env", "dev"])
        .0
        .success();
    let dev = repo.read("environments/dev.yaml");
    let start = dev.find("  globex:\n").unwrap();
    let end = dev.find("  initech:\n").unwrap();
    repo.write(
        "environments/dev.yaml",
        &format!("{}{}", &dev[..start], &dev[end..]),
    );
    let head = repo.commit("globex leaves dev");

    let run = repo.run(&[
        "ci", "--base", &base, "--head", &head, "--env", "dev", "--apply", "--yes",
    ]);
    run.success().stdout_contains(
        "dev: removed from the repository: globex: kept on the platform and in the state (--allow-delete forgets them)",
    );
    assert!(repo.state_files().contains_key("dev/globex.json"));

    // Forgetting applies nothing else: a change made on the platform to a tenant the commit
    // does not touch stays there, and --allow-delete removes nothing from it.
    let acme = ".promote/emulator-dev/tenants/acme-dev.json";
    let mut tree = repo.json(acme);
    tree["name"] = "renamed on the platform".into();
    repo.write(acme, &tree.to_string());
    let (run, report) = ci(
        &repo,
        &base,
        &head,
        &["--env", "dev", "--apply", "--yes", "--allow-delete"],
    );
    run.success();
    assert_eq!(ran(&report), BTreeMap::new());
    assert_eq!(repo.json(acme)["name"], "renamed on the platform");
    assert_eq!(report["environments"][0]["removed"][0], "globex");
    assert_eq!(report["environments"][0]["forgotten"], true);
    assert!(!repo.state_files().contains_key("dev/globex.json"));
    assert!(repo.state_files().contains_key("dev/acme.json"));
    // The platform keeps the tenant.
    assert!(repo
        .join(".promote/emulator-dev/tenants/globex-dev.json")
        .exists());
}

#[test]
fn shards_split_the_affected_tenants_exactly() {
    let (repo, base) = fleet();
    repo.edit("environments/dev.yaml", "locale: en-US", "locale: fr-FR");
    let head = repo.commit("dev: French by default");
    let mut seen: Vec<String> = Vec::new();
    for k in 1..=3 {
        let shard = format!("{k}/3");
        let (run, report) = ci(&repo, &base, &head, &["--shard", &shard]);
        run.success();
        assert_eq!(report["shard"], shard.as_str());
        seen.extend(ran(&report).remove("dev").unwrap_or_default());
    }
    seen.sort();
    assert_eq!(seen, TENANTS);
    repo.run(&["ci", "--base", &base, "--head", &head, "--shard", "4/3"])
        .code(1)
        .stderr_contains("is not a shard");
}

#[test]
fn the_summary_goes_to_github_and_to_a_file() {
    let (repo, base) = fleet();
    let head = more_seats_in_prod(&repo);
    let github = repo.join("step-summary.md");
    std::fs::write(&github, "earlier step\n").unwrap();
    let run = repo.run_env(
        &["ci", "--base", &base, "--head", &head],
        &[("GITHUB_STEP_SUMMARY", github.to_str().unwrap())],
    );
    run.success();
    let text = std::fs::read_to_string(&github).unwrap();
    assert!(
        text.starts_with("earlier step\n## promote ci plan: "),
        "{text}"
    );
    assert!(
        text.contains("| `prod` | planned | 1 | 1 | 0 |  |"),
        "{text}"
    );
    assert!(
        text.contains("| `dev` | no tenant affected | 0 | 0 | 0 |  |"),
        "{text}"
    );
    assert!(text.contains("<code>initech</code>"), "{text}");

    repo.run(&[
        "ci",
        "--base",
        &base,
        "--head",
        &head,
        "--summary",
        "out.md",
    ])
    .success();
    let file = repo.read("out.md");
    assert!(file.starts_with("## promote ci plan: "), "{file}");
    let run = repo.run(&[
        "--output", "markdown", "ci", "--base", &base, "--head", &head,
    ]);
    run.success();
    assert_eq!(run.stdout, file);
}

#[test]
fn plan_exit_codes_follow_plan() {
    let (repo, base) = fleet();
    let head = more_seats_in_prod(&repo);
    repo.run(&[
        "ci",
        "--base",
        &base,
        "--head",
        &head,
        "--detailed-exitcode",
    ])
    .code(2);
    repo.run(&[
        "ci",
        "--base",
        &head,
        "--head",
        &head,
        "--detailed-exitcode",
    ])
    .success();
}

#[test]
fn a_shallow_checkout_is_explained() {
    let (repo, head) = fleet();
    repo.run(&["ci", "--base", "0123456789abcdef0123", "--head", &head])
        .code(1)
        .stderr_contains("cannot resolve git revision `0123456789abcdef0123`")
        .stderr_contains("fetch-depth: 0");
}

#[test]
fn the_text_report_reads_well() {
    let (repo, base) = fleet();
    repo.edit("environments/prod.yaml", "seats: 10", "seats: 12");
    let dev = repo.read("environments/dev.yaml");
    let start = dev.find("  umbrella:\n").unwrap();
    repo.write("environments/dev.yaml", &dev[..start]);
    let head = repo.commit("initech: more seats in prod, umbrella leaves dev");
    let run = repo.run(&["ci", "--base", &base, "--head", &head]);
    run.success();
    let text = repo
        .snapshot(&run)
        .replace(&base[..12], "[BASE]")
        .replace(&head[..12], "[HEAD]");
    insta::assert_snapshot!(text);
}

#[test]
fn the_state_is_shared_through_a_remote() {
    let (a, head) = fleet();
    let remote = tempfile::tempdir().unwrap();
    git2::Repository::init_bare(remote.path()).unwrap();
    let url = remote.path().to_str().unwrap();
    let zero = "0000000000000000000000000000000000000000";
    let shared = ["--apply", "--yes", "--state-remote", url];
    // Job 1 applies dev and pushes its records.
    let mut args = vec!["--env", "dev"];
    args.extend(shared);
    ci(&a, zero, &head, &args).0.success();

    // Job 2, on a fresh clone: without the remote it knows nothing of dev ...
    let b = TestRepo::clone_of(&a);
    ci(&b, zero, &head, &["--apply", "--yes", "--env", "staging"])
        .0
        .code(1)
        .stderr_contains("requires `dev`");
    // ... with it, staging's gate sees dev's apply.
    let mut args = vec!["--env", "staging"];
    args.extend(shared);
    ci(&b, zero, &head, &args).0.success();

    // Job 1 again: prod's gate sees staging's apply from job 2, and both jobs' records are on
    // the remote.
    let mut args = vec!["--env", "prod"];
    args.extend(shared);
    ci(&a, zero, &head, &args).0.success();
    let bare = git2::Repository::open_bare(remote.path()).unwrap();
    let tip = bare
        .find_reference("refs/promote/state")
        .unwrap()
        .peel_to_commit()
        .unwrap();
    let mut summaries = Vec::new();
    let mut walk = bare.revwalk().unwrap();
    walk.push(tip.id()).unwrap();
    for id in walk {
        let c = bare.find_commit(id.unwrap()).unwrap();
        summaries.push(
            c.summary()
                .unwrap()
                .unwrap()
                .split(':')
                .next()
                .unwrap()
                .to_owned(),
        );
    }
    assert_eq!(summaries, ["apply prod", "apply staging", "apply dev"]);
}

/// Threat model: a pull request's plan runs with the CI's credentials, and the pull request
/// writes the environment files. A changed target (here a platform on a port where nothing
/// listens, standing for a host of the author's) is not where the plan connects: it plans
/// against the base commit's target and says so. A new environment with a platform target is
/// not planned before it is merged.
#[test]
fn a_pull_request_cannot_move_where_the_credentials_go() {
    let (repo, base) = fleet();
    repo.edit(
        "environments/prod.yaml",
        "emulator: .promote/emulator-prod",
        "url: http://127.0.0.1:9\n  client_id_env: PROMOTE_PROD_CLIENT_ID\n  client_secret_env: AWS_SECRET_ACCESS_KEY",
    );
    let head = more_seats_in_prod(&repo);
    let (run, out) = ci(&repo, &base, &head, &["--env", "prod"]);
    run.success();
    assert!(
        run.stderr.contains("environments/prod.yaml@")
            && run.stderr.contains("this change sets a new target")
            && run.stderr.contains("target of the base commit"),
        "{run}"
    );
    assert_eq!(out["environments"][0]["status"], "planned", "{out}");

    repo.write(
        "environments/evil.yaml",
        &repo
            .read("environments/dev.yaml")
            .replace("emulator: .promote/emulator-dev", "url: http://127.0.0.1:9"),
    );
    let added = repo.commit("a new environment");
    let run = repo.run(&["ci", "--base", &head, "--head", &added, "--env", "evil"]);
    run.code(1);
    assert!(
        run.stderr.contains("environments/evil.yaml@")
            && run.stderr.contains("is new in this change")
            && run.stderr.contains("has not been reviewed"),
        "{run}"
    );
}

#[test]
fn the_head_templates_compile_once_for_every_environment() {
    let (repo, base) = fleet();
    repo.edit("templates/acme/tenant.yaml", "name:", "# reviewed\nname:");
    let head = repo.commit("acme: a comment");
    let (run, _) = repo.json_run(
        &["ci", "--base", &base, "--head", &head],
        &[("PROMOTE_LOG", "promote_lib::render=debug")],
    );
    run.success();
    assert_eq!(run.stderr.matches("templates compiled").count(), 1, "{run}");
    // What the change affects comes from the compiled head's graph: only base is parsed
    // for its own.
    assert_eq!(
        run.stderr.matches("template graph parsed").count(),
        1,
        "{run}"
    );
}

/// A tenant last applied from a commit head does not contain (a branch applied by hand) is
/// named before ci replaces what only that commit had.
#[test]
fn ci_names_tenants_last_applied_from_elsewhere() {
    let (repo, base) = fleet();
    repo.edit("templates/acme/tenant.yaml", "IAM-4410", "IAM-4499");
    let side = repo.commit("a change applied by hand from a branch");
    repo.run(&["apply", "--env", "dev", "--yes", "--tenant", "acme"])
        .success();
    repo.reset_hard(&base);
    repo.edit("templates/acme/tenant.yaml", "IAM-4410", "IAM-4411");
    let head = repo.commit("the change that was merged");
    let (run, _) = ci(&repo, &base, &head, &["--apply", "--yes", "--env", "dev"]);
    run.success().stderr_contains(&format!(
        "acme in `dev` last took commit {}, which {} does not contain",
        &side[..12],
        &head[..12]
    ));
}

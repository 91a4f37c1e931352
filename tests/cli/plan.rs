//! `promote plan`: what applying the repository would change, per tenant, against a directory
//! of trees (`dir:`) or the repository at a git revision (`rev:`), in text, markdown and JSON,
//! never showing a credential.

use serde_json::{json, Value};

use crate::support::TestRepo;

/// A small repository: one template, two tenants, environments prod and staging.
fn small() -> TestRepo {
    let repo = TestRepo::empty();
    repo.write(
        "templates/app/tenant.yaml",
        "name: {{ tenant.id }}\nurl: https://{{ tenant.id }}.{{ vars.domain }}\n",
    )
    .write(
        "templates/app/workspaces/main/workspace.yaml",
        "name: Main\naccess_token_ttl: {{ vars.ttl }}\n",
    )
    .write(
        "templates/app/workspaces/main/clients/web.yaml",
        "client_name: Web\nredirect_uris:\n  - https://{{ vars.domain }}/callback\n",
    )
    .write(
        "templates/app/workspaces/main/clients/backend.yaml",
        "client_name: Backend\nclient_secret: '{{ secret(\"APP_BACKEND_SECRET\") }}'\n",
    )
    .write(
        "environments/prod.yaml",
        "target:\n  url: https://prod.example.test\nvars:\n  domain: example.com\n  ttl: 10m\ntenants:\n  alpha: {template: app, id: alpha-prod}\n  beta: {template: app, id: beta-prod, vars: {domain: beta.example.com}}\n",
    )
    .write(
        "environments/staging.yaml",
        "target:\n  url: https://staging.example.test\nvars:\n  domain: staging.example.com\n  ttl: 15m\ntenants:\n  alpha: {template: app, id: alpha-staging}\n  beta: {template: app, id: beta-staging, vars: {domain: beta.staging.example.com}}\n",
    );
    repo
}

/// Returns the small repository with staging rendered to `B/`.
fn small_with_staging_baseline() -> TestRepo {
    let repo = small();
    repo.run(&["render", "--env", "staging", "--out", "B"])
        .success();
    repo
}

/// Returns `(kind, path)` of each change of tenant `key` in a JSON plan.
fn changes(report: &Value, key: &str) -> Vec<(String, String)> {
    tenant(report, key)["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["kind"].as_str().unwrap().to_owned(),
                c["path"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn tenant<'a>(report: &'a Value, key: &str) -> &'a Value {
    report["tenants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["key"] == key)
        .unwrap_or_else(|| panic!("no tenant {key} in {report}"))
}

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect()
}

#[test]
fn text_against_a_directory() {
    let repo = small_with_staging_baseline();
    let run = repo.run(&["plan", "--env", "prod", "--against", "dir:B"]);
    run.success();
    insta::assert_snapshot!(repo.snapshot(&run));
}

#[test]
fn markdown_against_a_directory() {
    let repo = small_with_staging_baseline();
    let run = repo.run(&[
        "plan",
        "--env",
        "prod",
        "--against",
        "dir:B",
        "--output",
        "markdown",
    ]);
    run.success();
    insta::assert_snapshot!(repo.snapshot(&run));
}

#[test]
fn json_against_a_directory() {
    let repo = small_with_staging_baseline();
    let run = repo.run(&[
        "plan",
        "--env",
        "prod",
        "--against",
        "dir:B",
        "--output",
        "json",
    ]);
    run.success();
    let report = run.stdout_json();
    assert_eq!(report["version"], json!(2));
    assert_eq!(report["env"], json!("prod"));
    assert_eq!(report["against"], json!("dir:B"));
    assert_eq!(report["mode"], json!("update"));
    assert_eq!(
        report["summary"],
        json!({
            "tenants": 2,
            "unchanged": 0,
            "with_changes": 2,
            "errors": 0,
            "conflicts": 0,
            "changes": {"add": 0, "replace": 8, "remove": 0},
        })
    );
    let keys: Vec<&Value> = report["tenants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| &t["key"])
        .collect();
    assert_eq!(keys, [&json!("alpha"), &json!("beta")]);
    repo.run(&["render", "--env", "prod", "--out", "P"])
        .success();
    for key in ["alpha", "beta"] {
        let t = tenant(&report, key);
        assert_eq!(t["id"], json!(format!("{key}-prod")));
        assert_eq!(t["template"], json!("app"));
        assert_eq!(t["status"], json!("changes"));
        assert_eq!(t["counts"], json!({"add": 0, "replace": 4, "remove": 0}));
        assert_eq!(t["errors"], json!([]));
        assert_eq!(t["conflicts"], json!([]));
        assert_eq!(
            changes(&report, key),
            pairs(&[
                ("replace", "/name"),
                ("replace", "/servers/main/access_token_ttl"),
                ("replace", "/servers/main/clients/web/redirect_uris"),
                ("replace", "/url"),
            ])
        );
        let name = &t["changes"][0];
        assert_eq!(name["old"], json!(format!("{key}-staging")));
        assert_eq!(name["new"], json!(format!("{key}-prod")));
        // The patch, applied to the baseline, gives what prod renders to.
        assert_eq!(t["patch"]["format"], json!("rfc7396"));
        let mut tree = repo.json(&format!("B/{key}.json"));
        json_patch::merge(&mut tree, &t["patch"]["patch"]);
        assert_eq!(tree, repo.json(&format!("P/{key}.json")), "{key}");
    }
}

/// A baseline in the YAML layout (`render --format yaml`) plans like the same trees in JSON.
#[test]
fn yaml_layout_baseline_plans_like_json() {
    let repo = small_with_staging_baseline();
    repo.run(&[
        "render", "--env", "staging", "--format", "yaml", "--out", "Y",
    ])
    .success();
    let json_plan = repo.run(&[
        "plan",
        "--env",
        "prod",
        "--against",
        "dir:B",
        "--output",
        "json",
    ]);
    let yaml_plan = repo.run(&[
        "plan",
        "--env",
        "prod",
        "--against",
        "dir:Y",
        "--output",
        "json",
    ]);
    yaml_plan.success();
    let mut expected = json_plan.stdout_json();
    expected["against"] = json!("dir:Y");
    assert_eq!(yaml_plan.stdout_json(), expected);
}

#[test]
fn detailed_exitcode_is_2_with_changes_and_0_without() {
    let repo = small_with_staging_baseline();
    let run = repo.run(&[
        "plan",
        "--env",
        "prod",
        "--against",
        "dir:B",
        "--detailed-exitcode",
    ]);
    run.code(2).stdout_contains("2 with changes");
    repo.run(&["render", "--env", "prod", "--out", "P"])
        .success();
    let run = repo.run(&[
        "plan",
        "--env",
        "prod",
        "--against",
        "dir:P",
        "--detailed-exitcode",
    ]);
    run.success().stdout_contains(
        "2 tenant(s): 0 with changes (0 to add, 0 to change, 0 to remove), 2 unchanged, 0 error(s)",
    );
    // Unchanged tenants are listed only with -v.
    assert!(!run.stdout.contains("alpha"), "{run}");
    repo.run(&["plan", "--env", "prod", "--against", "dir:P", "-v"])
        .success()
        .stdout_contains("alpha (alpha-prod): no changes")
        .stdout_contains("beta (beta-prod): no changes");
}

#[test]
fn tenant_missing_from_the_baseline_is_created() {
    let repo = small_with_staging_baseline();
    repo.remove("B/beta.json");
    let run = repo.run(&[
        "plan",
        "--env",
        "prod",
        "--against",
        "dir:B",
        "--output",
        "json",
    ]);
    run.success();
    let report = run.stdout_json();
    assert_eq!(tenant(&report, "alpha")["status"], json!("changes"));
    let beta = tenant(&report, "beta");
    assert_eq!(beta["status"], json!("create"));
    assert_eq!(report["summary"]["with_changes"], json!(2));
    // Everything beta has is added.
    let added: Vec<(String, String)> = changes(&report, "beta");
    assert!(added.iter().all(|(kind, _)| kind == "add"), "{added:?}");
    assert!(
        added.contains(&("add".to_owned(), "/name".to_owned())),
        "{added:?}"
    );
    repo.run(&["plan", "--env", "prod", "--against", "dir:B"])
        .success()
        .stdout_contains("beta (beta-prod): new tenant, ");
}

/// A secret reference the repository changes shows its new marker (the repository's own
/// words); the baseline's value is redacted like any value from outside the repository.
#[test]
fn changed_secret_reference_shows_the_repositorys_marker() {
    let repo = small_with_staging_baseline();
    repo.edit(
        "templates/app/workspaces/main/clients/backend.yaml",
        "APP_BACKEND_SECRET",
        "APP_BACKEND_SECRET_V2",
    );
    let run = repo.run(&[
        "plan",
        "--env",
        "prod",
        "--tenant",
        "alpha",
        "--against",
        "dir:B",
    ]);
    run.success().stdout_contains(
        "  ~ /servers/main/clients/backend/client_secret: \"<redacted>\" → \"<secret:APP_BACKEND_SECRET_V2>\"",
    );
    assert!(!run.stdout.contains("beta"), "--tenant alpha only: {run}");
    let report = repo
        .run(&[
            "plan",
            "--env",
            "prod",
            "--against",
            "dir:B",
            "--output",
            "json",
        ])
        .stdout_json();
    let change = tenant(&report, "alpha")["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["path"] == "/servers/main/clients/backend/client_secret")
        .unwrap()
        .clone();
    assert_eq!(change["old"], json!("<redacted>"));
    assert_eq!(change["new"], json!("<secret:APP_BACKEND_SECRET_V2>"));
}

/// From the independent try: a baseline's credential that looks like a `secret()` marker
/// (`<secret:sk_live_...>`, a token of marker characters) was shown, in every form of the
/// plan. A value from outside the repository has its markers redacted like any credential.
#[test]
fn a_baseline_credential_shaped_like_a_marker_is_never_shown() {
    let repo = TestRepo::example();
    repo.run(&["render", "--env", "local", "--out", "B"])
        .success();
    let token = "sk_live_4eC39HqLyjWDarjtT1zdp7dc";
    let mut tree = repo.json("B/acme.json");
    tree["servers"]["default"]["webhooks"]["crm-events"]["api_key"] =
        json!(format!("<secret:{token}>"));
    tree["servers"]["default"]["idps"]["google"]["credentials"]["google"]["client_secret"] =
        json!(format!("<secret:{token}2>"));
    repo.write("B/acme.json", &serde_json::to_string_pretty(&tree).unwrap());
    for format in ["text", "json", "markdown", "html"] {
        for envs in [&[][..], &[("PROMOTE_NO_CACHE", "1")][..]] {
            let args = [
                "plan",
                "--env",
                "local",
                "--tenant",
                "acme",
                "--against",
                "dir:B",
                "--output",
                format,
            ];
            let run = repo.run_env(&args, envs);
            run.success();
            assert!(!run.stdout.contains(token), "{format}: {}", run.stdout);
            assert!(
                run.stdout.contains("ACME_WEBHOOK_KEY"),
                "{format}: {}",
                run.stdout
            );
        }
    }
}

/// A baseline exported with credentials holds them in plain text; no form of the plan shows
/// them, not in changes, not in the patch, not in the test ops of an RFC 6902 patch.
#[test]
fn credentials_of_the_baseline_are_never_shown() {
    let repo = small_with_staging_baseline();
    let mut alpha = repo.json("B/alpha.json");
    let clients = &mut alpha["servers"]["main"]["clients"];
    clients["backend"]["client_secret"] = json!("hunter2-backend-plain");
    clients["backend"]["description"] = json!("legacy backend");
    clients["web"]["client_secret"] = json!("hunter2-web-plain");
    clients["legacy"] = json!({"client_name": "Legacy", "client_secret": "hunter2-legacy-plain"});
    alpha["servers"]["main"]["secret"] = json!("hunter2-workspace-plain");
    alpha["jwks"] = json!({"keys": [{"kty": "RSA", "n": "public-n", "d": "hunter2-jwks-plain"}]});
    repo.write(
        "B/alpha.json",
        &serde_json::to_string_pretty(&alpha).unwrap(),
    );
    // Setting a value to null makes alpha's patch RFC 6902, with test ops on old values.
    repo.edit(
        "templates/app/workspaces/main/clients/backend.yaml",
        "client_name: Backend\n",
        "client_name: Backend\ndescription: null\n",
    );
    let secrets = [
        "hunter2-backend-plain",
        "hunter2-web-plain",
        "hunter2-legacy-plain",
        "hunter2-workspace-plain",
        "hunter2-jwks-plain",
    ];
    for output in ["text", "json", "markdown"] {
        for verbose in [false, true] {
            let mut args = vec![
                "plan",
                "--env",
                "prod",
                "--against",
                "dir:B",
                "--output",
                output,
            ];
            if verbose {
                args.push("-vv");
            }
            let run = repo.run(&args);
            run.success();
            for secret in secrets {
                run.never_shows(secret);
            }
            run.stdout_contains("/servers/main/clients/backend/client_secret");
        }
    }
    let report = repo
        .run(&[
            "plan",
            "--env",
            "prod",
            "--against",
            "dir:B",
            "--output",
            "json",
        ])
        .stdout_json();
    let alpha = tenant(&report, "alpha");
    let change = alpha["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["path"] == "/servers/main/clients/backend/client_secret")
        .unwrap();
    assert_eq!(change["old"], json!("<redacted>"));
    assert_eq!(change["new"], json!("<secret:APP_BACKEND_SECRET>"));
    assert_eq!(alpha["patch"]["format"], json!("rfc6902"));
    let ops = alpha["patch"]["patch"].as_array().unwrap();
    assert!(
        ops.contains(&json!({"op": "test", "path": "/servers/main/clients/backend/client_secret", "value": "<redacted>"})),
        "{ops:#?}"
    );
    assert!(
        ops.contains(&json!({"op": "replace", "path": "/servers/main/clients/backend/description", "value": null})),
        "{ops:#?}"
    );
}

/// The example repository under git: one acme client changed, another deleted.
fn example_with_a_commit() -> TestRepo {
    let repo = TestRepo::example();
    repo.git_init();
    repo.commit("the shipped example");
    repo
}

#[test]
fn against_a_revision_shows_exactly_what_changed_since() {
    let repo = example_with_a_commit();
    repo.edit(
        "templates/acme/workspaces/default/clients/storefront-spa.yaml",
        "description: React storefront at",
        "description: Web shop at",
    )
    .remove("templates/acme/workspaces/default/clients/crm-sync.yaml");
    let run = repo.run(&[
        "plan",
        "--env",
        "prod",
        "--against",
        "rev:HEAD",
        "--output",
        "json",
        "--detailed-exitcode",
    ]);
    run.code(2);
    let report = run.stdout_json();
    assert_eq!(report["against"], json!("rev:HEAD"));
    assert_eq!(
        changes(&report, "acme"),
        pairs(&[
            ("remove", "/servers/default/clients/crm-sync"),
            (
                "replace",
                "/servers/default/clients/storefront-spa/description"
            ),
        ])
    );
    let acme = tenant(&report, "acme");
    assert_eq!(acme["status"], json!("changes"));
    assert_eq!(
        acme["changes"][1]["old"],
        json!("React storefront at shop.acme.com")
    );
    assert_eq!(
        acme["changes"][1]["new"],
        json!("Web shop at shop.acme.com")
    );
    // A removal is sent as such: null in a merge patch.
    assert_eq!(
        acme["patch"],
        json!({"format": "rfc7396", "patch": {"servers": {"default": {"clients": {
            "crm-sync": null,
            "storefront-spa": {"description": "Web shop at shop.acme.com"},
        }}}}})
    );
    for key in ["globex", "initech", "umbrella"] {
        let t = tenant(&report, key);
        assert_eq!(t["status"], json!("unchanged"), "{key}");
        assert_eq!(t["changes"], json!([]), "{key}");
        assert_eq!(t["patch"], Value::Null, "{key}");
    }
    assert_eq!(
        report["summary"],
        json!({
            "tenants": 4, "unchanged": 3, "with_changes": 1, "errors": 0, "conflicts": 0,
            "changes": {"add": 0, "replace": 1, "remove": 1},
            // The client crm-sync goes: applying it needs --allow-delete.
            "objects_removed": 1,
        })
    );
    let text = repo.run(&["plan", "--env", "prod", "--against", "rev:HEAD"]);
    text.success()
        .stdout_contains("acme (acme-prod): 0 to add, 1 to change, 1 to remove\n  - /servers/default/clients/crm-sync\n  ~ /servers/default/clients/storefront-spa/description: \"React storefront at shop.acme.com\" → \"Web shop at shop.acme.com\"\n");
    assert!(!text.stdout.contains("globex"), "{text}");
}

#[test]
fn against_an_unchanged_revision_there_is_nothing_to_do() {
    let repo = example_with_a_commit();
    let run = repo.run(&[
        "plan",
        "--env",
        "prod",
        "--against",
        "rev:HEAD",
        "--detailed-exitcode",
    ]);
    run.success().stdout_contains(
        "4 tenant(s): 0 with changes (0 to add, 0 to change, 0 to remove), 4 unchanged, 0 error(s)",
    );
}

#[test]
fn a_bad_revision_is_a_clear_error() {
    let repo = example_with_a_commit();
    let run = repo.run(&["plan", "--env", "prod", "--against", "rev:no-such-branch"]);
    run.code(1)
        .stderr_contains("cannot resolve git revision `no-such-branch`")
        .stderr_contains("hint: name a commit, branch or tag");
    assert_eq!(run.stdout, "", "{run}");
    repo.run(&["plan", "--env", "prod", "--against", "rev:HEAD~1"])
        .code(1)
        .stderr_contains("cannot resolve git revision `HEAD~1`");
}

/// The revision is read from the object database: neither the work tree nor the index.
#[test]
fn the_revision_is_read_from_git_not_the_work_tree() {
    let repo = small();
    repo.git_init();
    let first = repo.commit("v1");
    repo.edit(
        "templates/app/workspaces/main/clients/web.yaml",
        "client_name: Web\n",
        "client_name: Web v2\n",
    );
    // Staged but not committed: still not the revision.
    repo.stage();
    let expected = "  ~ /servers/main/clients/web/client_name: \"Web\" → \"Web v2\"\n";
    let run = repo.run(&[
        "plan",
        "--env",
        "prod",
        "--tenant",
        "alpha",
        "--against",
        "rev:HEAD",
    ]);
    run.success()
        .stdout_contains("alpha (alpha-prod): 0 to add, 1 to change, 0 to remove\n")
        .stdout_contains(expected);
    repo.commit("v2");
    repo.run(&[
        "plan",
        "--env",
        "prod",
        "--against",
        "rev:HEAD",
        "--detailed-exitcode",
    ])
    .success();
    for rev in ["rev:HEAD~1", &format!("rev:{first}")] {
        repo.run(&[
            "plan",
            "--env",
            "prod",
            "--against",
            rev,
            "--detailed-exitcode",
        ])
        .code(2)
        .stdout_contains(expected);
    }
}

/// An environment that did not exist at the revision: every tenant is new.
#[test]
fn environment_added_since_the_revision_creates_every_tenant() {
    let repo = small();
    let staging = repo.read("environments/staging.yaml");
    repo.remove("environments/staging.yaml");
    repo.git_init();
    repo.commit("prod only");
    repo.write("environments/staging.yaml", &staging);
    let run = repo.run(&[
        "plan",
        "--env",
        "staging",
        "--against",
        "rev:HEAD",
        "--output",
        "json",
    ]);
    run.success();
    let report = run.stdout_json();
    for key in ["alpha", "beta"] {
        assert_eq!(tenant(&report, key)["status"], json!("create"), "{key}");
    }
}

/// The configuration repository may be a subdirectory of the git work tree: the revision's
/// files are read from the same subdirectory.
#[test]
fn configuration_in_a_subdirectory_of_the_git_work_tree() {
    let repo = TestRepo::empty();
    repo.write("README.md", "not configuration\n")
        .write("config/templates/t/tenant.yaml", "name: one\n")
        .write(
            "config/environments/prod.yaml",
            "target:\n  url: https://t.example.test\n",
        );
    repo.git_init();
    repo.commit("v1");
    repo.write("config/templates/t/tenant.yaml", "name: two\n");
    repo.run_at(
        "config",
        &["plan", "--env", "prod", "--against", "rev:HEAD"],
    )
    .success()
    .stdout_contains("t (t): 0 to add, 1 to change, 0 to remove\n  ~ /name: \"one\" → \"two\"\n");
}

/// Paths the user gave are shown as given; the harness normalizes the temporary directory.
#[test]
fn absolute_baseline_path_in_messages() {
    let repo = small();
    let missing = repo.join("missing");
    let against = format!("dir:{}", missing.display());
    let run = repo.run(&["plan", "--env", "prod", "--against", &against]);
    run.code(1);
    assert_eq!(
        repo.normalize(&run.stderr),
        "error: baseline directory [REPO]/missing does not exist\n  hint: write one with `promote render --env ENV --out DIR`\n"
    );
}

/// Naming a tenant twice (or by key and by ID) plans it once.
#[test]
fn a_tenant_named_twice_is_planned_once() {
    let repo = small_with_staging_baseline();
    let run = repo.run(&[
        "plan",
        "--env",
        "prod",
        "--tenant",
        "alpha",
        "--tenant",
        "alpha-prod",
        "--against",
        "dir:B",
        "--output",
        "json",
    ]);
    run.success();
    let report = run.stdout_json();
    assert_eq!(report["tenants"].as_array().unwrap().len(), 1, "{run}");
    assert_eq!(report["summary"]["tenants"], json!(1));
}

/// The work tree follows a symlink that stays inside the repository; a revision must read the
/// same repository the same way, or a valid repository cannot be planned against its history.
#[cfg(unix)]
#[test]
fn in_repository_symlink_plans_against_a_revision() {
    let repo = TestRepo::empty();
    repo.write("templates/t/tenant.yaml", "name: t\n")
        .write("shared/pool.yaml", "name: Shared pool\n")
        .write(
            "environments/prod.yaml",
            "target:\n  url: https://t.example.test\n",
        );
    std::fs::create_dir_all(repo.join("templates/t/pools")).unwrap();
    std::os::unix::fs::symlink(
        "../../../shared/pool.yaml",
        repo.join("templates/t/pools/p.yaml"),
    )
    .unwrap();
    repo.run(&["validate"]).success();
    repo.git_init();
    repo.commit("v1");
    repo.run(&[
        "plan",
        "--env",
        "prod",
        "--against",
        "rev:HEAD",
        "--detailed-exitcode",
    ])
    .success();
}

#[cfg(unix)]
#[test]
fn a_symlink_leaving_the_repository_is_refused_in_a_revision_too() {
    let repo = TestRepo::empty();
    repo.write("templates/t/tenant.yaml", "name: t\n").write(
        "environments/prod.yaml",
        "target:\n  url: https://t.example.test\n",
    );
    std::fs::create_dir_all(repo.join("templates/t/pools")).unwrap();
    std::os::unix::fs::symlink(
        "../../../../outside.yaml",
        repo.join("templates/t/pools/p.yaml"),
    )
    .unwrap();
    repo.git_init();
    repo.commit("v1");
    // The work tree is fine again; the revision still holds the link.
    std::fs::remove_file(repo.join("templates/t/pools/p.yaml")).unwrap();
    repo.write("templates/t/pools/p.yaml", "name: p\n");
    repo.run(&["plan", "--env", "prod", "--against", "rev:HEAD"])
        .code(1)
        .stderr_contains("templates/t/pools/p.yaml@HEAD")
        .stderr_contains("symlink leaves the repository");
}

/// A key a template writes can hold anything YAML can: a new line, a CI command, a terminal
/// escape, a code fence. In text and markdown plans it stays inside its line.
#[test]
fn a_hostile_key_cannot_forge_lines_of_a_plan() {
    let repo = small_with_staging_baseline();
    repo.write(
        "templates/app/workspaces/main/workspace.yaml",
        "name: Main\naccess_token_ttl: {{ vars.ttl }}\nmetadata:\n  \"k\\n```\\n</details>\\n::error file=README.md,line=1::FORGED\\n# Approved\\e[31m\": 1\n",
    );
    for format in ["text", "markdown"] {
        let run = repo.run(&[
            "plan",
            "--env",
            "prod",
            "--against",
            "dir:B",
            "--output",
            format,
        ]);
        run.success();
        assert!(run.stdout.contains("FORGED"), "{format}: {}", run.stdout);
        for line in run.stdout.lines() {
            let l = line.trim_start();
            assert!(!l.starts_with("::"), "{format}: {line}");
            assert!(!l.starts_with("# Approved"), "{format}: {line}");
        }
        // The report's own blocks close as many times as they open, no more.
        let count = |tag: &str| run.stdout.lines().filter(|l| l.starts_with(tag)).count();
        assert_eq!(count("<details>"), count("</details>"), "{}", run.stdout);
        assert_eq!(count("```") % 2, 0, "{}", run.stdout);
        assert!(!run.stdout.contains('\u{1b}'), "{format}: {}", run.stdout);
    }
}

/// A JSON baseline is read against the desired trees (what both hold alike is never built):
/// the plan is the one `PROMOTE_NO_CACHE=1` makes from the whole files, with keys out of
/// order, written twice (the last counts, as serde_json reads it), escaped where they need not
/// be, with values that differ deep inside and lists, and a file serde_json refuses.
#[test]
fn a_json_baseline_read_against_desired_plans_as_the_whole_file() {
    let repo = TestRepo::example();
    repo.run(&["render", "--env", "prod", "--out", "B"])
        .success();
    let acme = repo.read("B/acme.json");
    // Out of order, and `features` twice: an earlier other value first, then the real one.
    let acme = acme.replacen(
        "{\n",
        "{\n  \"zz_extra\": [1, {\"a\": 2}],\n  \"features\": {\"x\": 1},\n",
        1,
    );
    repo.write(
        "B/acme.json",
        &acme.replace("\"enabled\": true", "\"en\\u0061bled\": true"),
    );
    let globex = repo.read("B/globex.json");
    repo.write(
        "B/globex.json",
        &globex
            .replacen("\"enabled\": true", "\"enabled\": false", 1)
            .replacen("{\n", "{\n  \"name\": 1.0,\n", 1),
    );
    // Written twice with the real value first: the later one counts.
    let initech = repo.read("B/initech.json");
    let last = initech.rfind('}').unwrap();
    repo.write(
        "B/initech.json",
        &format!(
            "{},\n  \"features\": {{}}\n}}\n",
            initech[..last].trim_end()
        ),
    );
    let plan = |envs: &[(&str, &str)], format: &str| {
        let args = [
            "plan",
            "--env",
            "prod",
            "--against",
            "dir:B",
            "--output",
            format,
        ];
        repo.run_env(&args, envs)
    };
    for format in ["json", "text"] {
        let default = plan(&[], format);
        let whole = plan(&[("PROMOTE_NO_CACHE", "1")], format);
        assert_eq!(default.code, whole.code, "{}", default.stderr);
        assert_eq!(default.stdout, whole.stdout);
        assert!(default.stdout.contains("features"), "{}", default.stdout);
    }
    let report = plan(&[], "json").stdout_json();
    assert_eq!(tenant(&report, "umbrella")["status"], json!("unchanged"));
    repo.write(
        "B/umbrella.json",
        "{\"name\": \"x\",\n \"features\": {\"a\": tru}}",
    );
    let default = plan(&[], "json");
    let whole = plan(&[("PROMOTE_NO_CACHE", "1")], "json");
    assert_eq!(default.stdout, whole.stdout);
    let report = default.stdout_json();
    let errors = &tenant(&report, "umbrella")["errors"];
    assert_eq!(errors[0]["location"]["line"], json!(2), "{errors}");
}

/// From the independent try: a tenant's baseline that is there but is no regular file (a pipe,
/// a device, a broken link, a directory named `.json`) made the tenant look new, and the plan
/// create it whole. Whatever is at a tenant's name is its baseline: such a one is refused, named,
/// and so is a tenant held both as a file and as a directory.
#[test]
fn a_baseline_that_is_there_but_unreadable_is_refused_not_taken_for_none() {
    let repo = TestRepo::example();
    repo.run(&["render", "--env", "local", "--out", "B"])
        .success();
    let base = repo.path().join("B");
    let plan = || {
        repo.run(&[
            "plan",
            "--env",
            "local",
            "--tenant",
            "globex",
            "--against",
            "dir:B",
            "--output",
            "json",
        ])
    };
    let check = |expected: &str| {
        let run = plan();
        run.code(1);
        run.stdout_contains(expected);
        assert_eq!(
            tenant(&run.stdout_json(), "globex")["status"],
            json!("error")
        );
    };
    std::fs::remove_file(base.join("globex.json")).unwrap();
    std::fs::create_dir(base.join("globex.json")).unwrap();
    check("not a regular file");
    std::fs::remove_dir(base.join("globex.json")).unwrap();
    std::os::unix::fs::symlink(base.join("nowhere.json"), base.join("globex.json")).unwrap();
    check("not a regular file");
    std::fs::remove_file(base.join("globex.json")).unwrap();
    std::os::unix::fs::symlink("/dev/zero", base.join("globex.json")).unwrap();
    check("not a regular file");
    std::fs::remove_file(base.join("globex.json")).unwrap();
    std::fs::write(base.join("globex"), "{}").unwrap();
    check("neither a .json file nor a directory");
    std::fs::remove_file(base.join("globex")).unwrap();
    std::fs::create_dir(base.join("globex")).unwrap();
    std::fs::write(base.join("globex.json"), "{}").unwrap();
    check("twice");
    std::fs::remove_dir(base.join("globex")).unwrap();
    std::fs::remove_file(base.join("globex.json")).unwrap();
    // Nothing at its name: a new tenant, as before.
    let run = plan();
    assert_eq!(
        tenant(&run.stdout_json(), "globex")["status"],
        json!("create")
    );
}

/// From the attacker's try: against `rev:`, keys inside a credential field that the repository
/// dropped since (an old commit's `credentials: {sk_live_...: x}`) were shown as the paths of
/// removals, in the patch's `null`s and in its ops. A removal's path below a credential field ends
/// at the field; the field is not shown in a merge document that removes a key inside it.
#[test]
fn keys_a_baseline_holds_inside_a_credential_field_are_never_shown() {
    let (repo, _) = TestRepo::example_in_git();
    let file = "templates/acme/workspaces/default/idps/google.yaml";
    let clean = repo.read(file);
    repo.write(
        file,
        &clean.replace(
            "    client_secret: '{{ secret(\"ACME_GOOGLE_SECRET\") }}'\n",
            "    client_secret: '{{ secret(\"ACME_GOOGLE_SECRET\") }}'\n    sk_live_PLANTED_K1: x\n  sk_live_PLANTED_K2: true\n",
        ),
    );
    repo.commit("a secret as a key");
    repo.write(file, &clean);
    repo.commit("dropped");
    for format in ["text", "json", "markdown", "html"] {
        let run = repo.run(&[
            "plan",
            "--env",
            "local",
            "--tenant",
            "acme",
            "--against",
            "rev:HEAD~1",
            "--output",
            format,
        ]);
        run.success();
        assert!(!run.stdout.contains("sk_live"), "{format}: {}", run.stdout);
        assert!(
            run.stdout.contains("credentials"),
            "{format}: {}",
            run.stdout
        );
    }
}

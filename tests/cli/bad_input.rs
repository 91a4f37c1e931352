//! Bad input: every case is a tiny repository and a command that must fail with exit 1, a
//! message on stderr naming the file (and the line and column where there is one), and no
//! panic (which every run checks).
//!
//! The table at the top is one test per row, so a row can be marked `#[ignore = "bug: ..."]`
//! on its own. Cases that need more than files (a symlink, the secret it must not leak) follow.

use crate::support::TestRepo;

/// The tenant file of the base repository.
const TENANT: &str = "templates/t/tenant.yaml";
/// The environment file of the base repository.
const PROD: &str = "environments/prod.yaml";

/// The repository every case starts from: template `t`, environment `prod` with the default
/// tenants (one per template).
fn base() -> TestRepo {
    let repo = TestRepo::empty();
    repo.write(TENANT, "name: t\n")
        .write(PROD, "target:\n  url: https://t.example.test\n");
    repo
}

/// Returns the base repository with a workspace `w`.
fn with_workspace(repo: &TestRepo) -> &TestRepo {
    repo.write("templates/t/workspaces/w/workspace.yaml", "name: w\n")
}

/// Runs `args` in the base repository changed by `setup`, and checks that it fails with every
/// one of `expected` on stderr.
fn check(args: &[&str], setup: impl FnOnce(&TestRepo), expected: &[&str]) {
    let repo = base();
    setup(&repo);
    let run = repo.run(args);
    run.code(1);
    assert!(run.stderr.starts_with("error: "), "{run}");
    for text in expected {
        run.stderr_contains(text);
    }
}

macro_rules! cases {
    ($(
        $(#[$meta:meta])*
        $name:ident: [$($arg:expr),* $(,)?], $setup:expr => [$($expected:expr),* $(,)?];
    )*) => {
        $(
            $(#[$meta])*
            #[test]
            fn $name() {
                check(&[$($arg),*], $setup, &[$($expected),*]);
            }
        )*
    };
}

cases! {
    malformed_yaml_in_a_template: ["validate"], |r| {
        r.write(TENANT, "name: t\nlist: [a, b\nother: 1\n");
    } => ["templates/t/tenant.yaml:3:6: invalid YAML: did not find expected ',' or ']' (env prod, tenant t)"];

    tera_syntax_error: ["validate"], |r| {
        r.write(TENANT, "name: t\nx: {{ tenant.id | }}\ny: 1\n");
    } => ["templates/t/tenant.yaml:2:19: template syntax error: expected an identifier"];

    every_tera_syntax_error_is_reported: ["validate"], |r| {
        r.write(TENANT, "name: t\nx: {{ tenant.id | }}\n")
            .write("templates/t/pools/p.yaml", "name: p\nx: {% if %}\n");
    } => [
        "templates/t/tenant.yaml:2:19: template syntax error",
        "templates/t/pools/p.yaml:2:10: template syntax error",
        "2 error(s)",
    ];

    undefined_variable: ["render", "--env", "prod"], |r| {
        r.write(TENANT, "name: t\nurl: https://{{ vars.host }}/t\n");
    } => [
        "templates/t/tenant.yaml:2:17: Variable `vars.host` not found in context (env prod, tenant t)",
        "hint: `vars.host` is not defined",
    ];

    unknown_template_in_an_environment: ["validate"], |r| {
        r.write(PROD, "target:\n  url: https://t.example.test\ntenants:\n  a:\n    template: nope\n");
    } => [
        "environments/prod.yaml:5:5: tenant `a` uses template `nope`, which does not exist (env prod)",
        "hint: templates are the directories of templates/: t",
    ];

    include_of_a_missing_partial: ["validate"], |r| {
        r.write(TENANT, "name: t\n{% include \"_shared/missing.yaml\" %}\n");
    } => ["templates/t/tenant.yaml", "_shared/missing.yaml", "not found"];

    include_of_a_missing_partial_names_its_line: ["validate"], |r| {
        r.write(TENANT, "name: t\n{% include \"_shared/missing.yaml\" %}\n");
    } => ["templates/t/tenant.yaml:2:"];

    import_of_missing_macros: ["validate"], |r| {
        r.write(TENANT, "{% import \"_shared/nope.tera\" as m %}\nname: t\n");
    } => ["t/tenant.yaml", "_shared/nope.tera"];

    import_of_missing_macros_names_the_file_and_line: ["validate"], |r| {
        r.write(TENANT, "{% import \"_shared/nope.tera\" as m %}\nname: t\n");
    } => ["error: templates/t/tenant.yaml:1:"];

    secret_name_that_is_not_valid: ["validate"], |r| {
        r.write(TENANT, "name: t\ns: '{{ secret(\"a b\") }}'\n");
    } => ["templates/t/tenant.yaml", "secret name `a b` must use letters, digits and '_'"];

    file_name_that_is_not_a_valid_key: ["validate"], |r| {
        with_workspace(r).write("templates/t/workspaces/w/clients/a%2fb.yaml", "client_name: x\n");
    } => ["templates/t/workspaces/w/clients/a%2fb.yaml: `a%2fb` is not a valid key file name; the key `a/b` is written `a%2Fb`"];

    key_that_is_a_directory_and_a_key_of_the_parent: ["validate"], |r| {
        r.write(TENANT, "name: t\npools: {}\n").write("templates/t/pools/p.yaml", "name: p\n");
    } => [
        "templates/t/tenant.yaml: `pools` is both a directory and a key in tenant.yaml",
        "hint: keep the entries in templates/t/pools/ and delete the key from tenant.yaml",
    ];

    sidecar_without_its_entry: ["validate"], |r| {
        with_workspace(r).write("templates/t/workspaces/w/scripts/s.js", "module.exports = 1;\n");
    } => ["templates/t/workspaces/w/scripts/s.js: s.js has no entry file s.yaml"];

    collection_of_the_wrong_shape: ["validate"], |r| {
        r.write(TENANT, "name: t\npools: [1, 2]\n");
    } => ["templates/t/tenant.yaml:2:1: `pools` must be a map, not a list: the platform refuses the whole tenant (400)", "at /pools"];

    reference_to_a_missing_policy: ["validate"], |r| {
        r.write(
            "templates/t/workspaces/w/workspace.yaml",
            "name: w\npolicy_execution_points:\n  login: nope\n",
        );
    } => ["templates/t/workspaces/w/workspace.yaml:3:3: unknown policy `nope`"];

    duplicate_tenant_ids: ["validate"], |r| {
        r.write(PROD, "target:\n  url: https://t.example.test\ntenants:\n  a: {template: t, id: same}\n  b: {template: t, id: same}\n");
    } => ["environments/prod.yaml:5:3: tenants `a` and `b` have the same ID `same`"];

    file_that_is_not_utf8: ["validate"], |r| {
        r.write_bytes(TENANT, b"name: t\nbad: \xff\xfe\n");
    } => ["templates/t/tenant.yaml:2:6: file is not UTF-8 text"];

    environment_file_with_an_unknown_key: ["validate"], |r| {
        r.write(PROD, "target:\n  url: https://t.example.test\ntenant: {}\n");
    } => ["environments/prod.yaml:3:1: invalid environment file: unknown field `tenant`"];

    environment_file_with_a_wrong_type: ["validate"], |r| {
        r.write(PROD, "target:\n  url: https://t.example.test\n  concurrency: many\n");
    } => ["environments/prod.yaml:3:16: invalid environment file: target.concurrency: invalid type: string \"many\""];

    environment_file_without_target: ["validate"], |r| {
        r.write(PROD, "vars:\n  a: 1\n");
    } => ["environments/prod.yaml:1:1: invalid environment file: missing field `target`"];

    environment_target_with_url_and_emulator: ["validate"], |r| {
        r.write(PROD, "target:\n  url: https://t.example.test\n  emulator: .promote/emulator\n");
    } => ["environments/prod.yaml:1:1: the target has both `url` and `emulator`"];

    environment_file_name_that_is_not_valid: ["validate"], |r| {
        r.write("environments/pro d.yaml", "target: {url: https://t.example.test}\n");
    } => ["environments/pro d.yaml: unexpected file in environments/"];

    literal_client_secret_in_a_template: ["validate"], |r| {
        with_workspace(r).write(
            "templates/t/workspaces/w/clients/c.yaml",
            "client_name: c\nredirect_uris: []\nclient_secret: hunter2\n",
        );
    } => [
        "templates/t/workspaces/w/clients/c.yaml:3:1: plain-text credential in the repository (env prod, tenant t)",
        "at /servers/w/clients/c/client_secret",
    ];

    unknown_environment: ["render", "--env", "nope"], |_| {} => [
        "no environment `nope`: environments/nope.yaml does not exist",
        "hint: environments here: prod",
    ];

    tenant_option_naming_no_tenant: ["render", "--env", "prod", "--tenant", "nope"], |_| {} => [
        "environments/prod.yaml: environment `prod` has no tenant `nope`",
        "hint: tenants of prod: t",
    ];

    baseline_directory_that_does_not_exist: ["plan", "--env", "prod", "--against", "dir:/nonexistent"], |_| {} => [
        "baseline directory /nonexistent does not exist",
    ];

    baseline_that_is_not_dir_or_rev: ["plan", "--env", "prod", "--against", "nowhere"], |_| {} => [
        "`nowhere` is not a baseline: use live, dir:DIR or rev:REV",
    ];

    diff_of_a_truncated_json_file: ["diff", "trunc.json", "ok.json"], |r| {
        r.write("trunc.json", "{\n  \"a\": 1,\n  \"b\": [1,").write("ok.json", "{}\n");
    } => ["trunc.json:3:10: invalid JSON: EOF while parsing a value"];

    diff_of_a_truncated_json_file_ending_in_a_newline: ["diff", "trunc.json", "ok.json"], |r| {
        r.write("trunc.json", "{\n  \"a\": 1,\n  \"b\": [1,\n").write("ok.json", "{}\n");
    } => ["trunc.json:4:1: invalid JSON"];

    diff_of_a_missing_file: ["diff", "missing.json", "ok.json"], |r| {
        r.write("ok.json", "{}\n");
    } => ["missing.json: cannot read"];

    diff_of_two_bad_files_reports_both: ["diff", "a.yaml", "b.json"], |r| {
        r.write("a.yaml", "a: [\n").write("b.json", "{\"b\": }");
    } => ["a.yaml:2:1: invalid YAML", "b.json:1:7: invalid JSON", "error: 2 errors"];

    yaml_document_with_a_duplicate_key: ["validate"], |r| {
        r.write(TENANT, "name: t\nmetadata:\n  a: 1\n  b: 2\n  a: 3\n");
    } => ["templates/t/tenant.yaml:5:3: invalid YAML: metadata: duplicate key `a`"];

    environment_file_with_a_duplicate_key: ["validate"], |r| {
        r.write(PROD, "target:\n  url: https://t.example.test\nvars:\n  a: 1\n  a: 2\n");
    } => ["environments/prod.yaml:5:3: invalid YAML: vars: duplicate key `a`"];

    workspace_directory_with_an_unexpected_file: ["validate"], |r| {
        with_workspace(r).write("templates/t/workspaces/w/notes.txt", "remember the milk\n");
    } => [
        "templates/t/workspaces/w/notes.txt: unexpected file in a workspace directory",
        "hint: a workspace directory holds workspace.yaml",
    ];

    unexpected_directory_in_a_tenant: ["validate"], |r| {
        r.write("templates/t/stuff/x.yaml", "a: 1\n");
    } => ["templates/t/stuff: unexpected directory in a tenant directory"];

    yaml_nested_a_thousand_levels_in_flow_style: ["validate"], |r| {
        r.write(TENANT, &format!("name: t\nmetadata: {}{}\n", "[".repeat(1000), "]".repeat(1000)));
    } => ["templates/t/tenant.yaml:2:", "invalid YAML: `[` and `{` nested more than 128 levels deep"];

    yaml_nested_a_thousand_levels_in_block_style: ["validate"], |r| {
        let nested: String = (0..1000).map(|i| format!("{}k{i}:\n", "  ".repeat(i + 1))).collect();
        r.write(TENANT, &format!("name: t\nmetadata:\n{nested}"));
    } => ["templates/t/tenant.yaml:", "invalid YAML: recursion limit exceeded"];

    // Regression (independent try): YAML 1.1 ends a line at U+2028, editors and reviews do
    // not, so a tenant after one in a comment was seen by promote and by no reviewer.
    environment_file_hiding_a_tenant_after_a_line_separator: ["validate"], |r| {
        r.write(
            PROD,
            "target:\n  url: https://t.example.test\ntenants:\n  t: {id: t-prod} # ok\u{2028}  hooli: {template: t, id: hooli-prod}\n",
        );
    } => [
        "environments/prod.yaml:4:23: invalid YAML: U+2028 (line separator) where YAML 1.1, which promote reads, ends a line",
        "hint: remove it, or write it in a double-quoted value as \\u2028",
    ];

    // Regression (independent try): a carriage return alone is a line break to YAML, and
    // `git diff` in a terminal prints the comment after it over the tenant before it.
    environment_file_hiding_a_tenant_before_a_carriage_return: ["validate"], |r| {
        r.write(
            PROD,
            "target:\n  url: https://t.example.test\ntenants:\n  t: {id: t-prod}\n  hooli: {template: t, id: hooli-prod}\r  # t: nothing else changes here, as the ticket says\n",
        );
    } => ["environments/prod.yaml:5:39: invalid YAML: a carriage return (U+000D) without a line feed"];

    // Regression (independent try): JavaScript ends a `//` comment at U+2028, and a terminal's
    // `git diff` prints what follows a lone carriage return over what comes before it.
    script_hiding_code_after_a_line_separator: ["validate"], |r| {
        with_workspace(r)
            .write("templates/t/workspaces/w/scripts/s.yaml", "{}\n")
            .write("templates/t/workspaces/w/scripts/s.js", "// harmless\u{2028}globalThis.evil = 1;\n");
    } => ["templates/t/workspaces/w/scripts/s.js:1:12: U+2028 in a script: JavaScript ends a line there"];

    policy_hiding_code_before_a_carriage_return: ["validate"], |r| {
        with_workspace(r)
            .write("templates/t/workspaces/w/policies/p.yaml", "{}\n")
            .write("templates/t/workspaces/w/policies/p.rego", "package p\nallow = true\r# reviewed: nothing else changes\n");
    } => ["templates/t/workspaces/w/policies/p.rego:2:13: a carriage return (U+000D) without a line feed after it"];

    template_hiding_a_key_after_a_paragraph_separator: ["render", "--env", "prod"], |r| {
        r.write(TENANT, "name: t\ndescription: plain\u{2029}metadata: {hidden: 1}\n");
    } => ["templates/t/tenant.yaml:2:19: invalid YAML: U+2029 (paragraph separator) where"];

    json_nested_a_thousand_levels_in_diff: ["diff", "deep.json", "ok.json"], |r| {
        r.write("deep.json", &format!("{}{}", "[".repeat(1000), "]".repeat(1000)))
            .write("ok.json", "{}\n");
    } => ["deep.json:1:", "invalid JSON: recursion limit exceeded"];

    directory_that_is_not_a_repository: ["validate"], |r| {
        r.remove("templates").remove("environments");
    } => ["has no templates/ directory", "hint: run promote in a configuration repository"];
}

/// A symlink to a file outside the repository is refused, and what it points at is not read
/// into any output.
#[cfg(unix)]
#[test]
fn symlink_that_leaves_the_repository() {
    let outside = tempfile::tempdir().unwrap();
    let target = outside.path().join("hostname");
    std::fs::write(&target, "outside-the-repository-1f3a\n").unwrap();
    let repo = base();
    std::os::unix::fs::symlink(&target, repo.join("templates/t/leak.yaml")).unwrap();
    for args in [
        &["validate"][..],
        &["render", "--env", "prod"],
        &["plan", "--env", "prod", "--against", "dir:."],
    ] {
        let run = repo.run(args);
        run.code(1)
            .stderr_contains("templates/t/leak.yaml: symlink leaves the repository")
            .never_shows("outside-the-repository-1f3a");
    }
    // A symlink that stays inside the repository is followed.
    let repo = base();
    repo.write("shared/pool.yaml", "name: Shared pool\n");
    std::fs::create_dir_all(repo.join("templates/t/pools")).unwrap();
    std::os::unix::fs::symlink(
        repo.join("shared/pool.yaml"),
        repo.join("templates/t/pools/shared.yaml"),
    )
    .unwrap();
    let run = repo.run(&["render", "--env", "prod"]);
    run.success();
    assert_eq!(
        run.stdout_json()["t"]["pools"]["shared"]["name"],
        "Shared pool"
    );
}

/// The credential a validation error is about is never printed.
#[test]
fn literal_credentials_are_named_not_shown() {
    let repo = base();
    with_workspace(&repo).write(
        "templates/t/workspaces/w/idps/corp.yaml",
        "name: Corp\ncredentials:\n  client_secret: corp-idp-secret-9d2\n",
    );
    for output in ["text", "json"] {
        let run = repo.run(&["validate", "--output", output]);
        run.code(1).never_shows("corp-idp-secret-9d2");
    }
    repo.run(&["validate"])
        .stderr_contains("templates/t/workspaces/w/idps/corp.yaml:2:1: plain-text credential");
}

/// A tenant that fails in a plan is reported in the plan itself, with exit 1.
#[test]
fn broken_tenant_in_a_plan_is_reported_in_the_plan() {
    let repo = base();
    repo.write(TENANT, "name: t\nurl: https://{{ vars.host }}/t\n");
    let run = repo.run(&["plan", "--env", "prod", "--against", "dir:."]);
    run.code(1)
        .stdout_contains("t (t): error")
        .stdout_contains("templates/t/tenant.yaml:2:17: Variable `vars.host` not found")
        .stdout_contains("1 tenant(s): 0 with changes (0 to add, 0 to change, 0 to remove), 0 unchanged, 1 error(s)");
    let run = repo.run(&[
        "plan",
        "--env",
        "prod",
        "--against",
        "dir:.",
        "--output",
        "json",
    ]);
    run.code(1);
    let report = run.stdout_json();
    let t = &report["tenants"][0];
    assert_eq!(t["status"], "error");
    assert_eq!(
        t["errors"][0]["location"]["file"],
        "templates/t/tenant.yaml"
    );
    assert_eq!(t["errors"][0]["location"]["line"], 2);
    assert_eq!(report["summary"]["errors"], 1);
}

/// The README says of exit 1: "the messages on stderr say what, where".
#[test]
fn broken_tenant_in_a_plan_says_why_on_stderr() {
    let repo = base();
    repo.write(TENANT, "name: t\nurl: https://{{ vars.host }}/t\n");
    repo.run(&[
        "plan",
        "--env",
        "prod",
        "--against",
        "dir:.",
        "--output",
        "json",
    ])
    .code(1)
    .stderr_contains("templates/t/tenant.yaml:2:17");
}

#[test]
fn revision_outside_git() {
    let repo = base();
    if git2::Repository::discover(repo.path()).is_ok() {
        // The temporary directory is inside a git work tree (TMPDIR in a checkout): there
        // is no "outside git" to test here.
        return;
    }
    repo.run(&["plan", "--env", "prod", "--against", "rev:HEAD"])
        .code(1)
        .stderr_contains("is not in a git repository");
}

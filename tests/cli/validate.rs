//! `promote validate`: the shipped example is valid, every error of every tenant is reported
//! in one run, and every field is typed as the platform types it (wrong types are errors,
//! unknown fields and values outside an enum are warnings, errors with `--strict` or
//! `strict: true`).

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
            "warnings": [],
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

/// One tenant whose client has a wrong type, a misspelled field and a value outside an enum,
/// in an environment whose file ends with `extra`.
fn typed_tenant(client: &str, extra: &str) -> TestRepo {
    let repo = TestRepo::empty();
    repo.write(
        "environments/local.yaml",
        &format!("target:\n  emulator: .promote/emulator\nvars:\n  port: 8443\n{extra}"),
    )
    .write("templates/acme/tenant.yaml", "name: acme\n")
    .write("templates/acme/workspaces/w/workspace.yaml", "name: W\n")
    .write("templates/acme/workspaces/w/clients/web.yaml", client)
    .write(".gitignore", ".promote/\n")
    .git_init()
    .commit("a tenant");
    repo
}

const MISTYPED: &str = "client_name: Web\nclient_uri: {{ vars.port }}\ntoken_endpoint_auth_methd: none\ntoken_endpoint_auth_method: client_secret_basik\n";
const MISSPELLED: &str =
    "client_name: Web\ntoken_endpoint_auth_methd: none\ntoken_endpoint_auth_method: client_secret_basik\n";

#[test]
fn a_wrong_type_is_an_error_and_an_unknown_field_a_warning_at_the_template_line() {
    let repo = typed_tenant(MISTYPED, "");
    let run = repo.run(&["validate"]);
    run.code(1)
        .stderr_contains("error: templates/acme/workspaces/w/clients/web.yaml:2:1: `client_uri` must be a string, not a number: the platform refuses the whole tenant (400) (env local, tenant acme)\n  at /servers/w/clients/web/client_uri")
        .stderr_contains("warning: templates/acme/workspaces/w/clients/web.yaml:3:1: `token_endpoint_auth_methd` is not a field of a client (TreeClient): the platform drops it (env local, tenant acme)\n  at /servers/w/clients/web/token_endpoint_auth_methd\n  hint: did you mean `token_endpoint_auth_method`?")
        .stderr_contains("warning: templates/acme/workspaces/w/clients/web.yaml:4:1: `token_endpoint_auth_method` is `client_secret_basik`, a value the platform's API description does not list")
        .stderr_contains("1 tenant(s) in 1 environment(s): 1 error(s), 2 warning(s)");
    // Errors come first, then warnings.
    let first_warning = run.stderr.find("warning:").unwrap();
    assert!(run.stderr.find("error:").unwrap() < first_warning, "{run}");
}

#[test]
fn warnings_do_not_fail_validate_unless_strict() {
    let repo = typed_tenant(MISSPELLED, "");
    repo.run(&["validate"])
        .success()
        .stderr_contains("1 tenant(s) in 1 environment(s): valid, 2 warning(s)");
    let strict = repo.run(&["validate", "--strict"]);
    strict
        .code(1)
        .stderr_contains("warning: templates/acme/workspaces/w/clients/web.yaml:3:1")
        .stderr_contains("1 tenant(s) in 1 environment(s): 2 warning(s) (--strict: they fail)");
    let repo = typed_tenant(MISSPELLED, "strict: true\n");
    repo.run(&["validate"])
        .code(1)
        .stderr_contains("error: templates/acme/workspaces/w/clients/web.yaml:2:1: `token_endpoint_auth_methd` is not a field of a client (TreeClient): the platform drops it")
        .stderr_contains("hint: did you mean `token_endpoint_auth_method`? (an error here: environments/local.yaml says `strict: true`)")
        .stderr_contains("1 tenant(s) in 1 environment(s): 2 error(s)");
}

#[test]
fn json_output_has_the_warnings() {
    let repo = typed_tenant(MISTYPED, "");
    let run = repo.run(&["validate", "--output", "json"]);
    run.code(1);
    let out = run.stdout_json();
    assert_eq!(out["valid"], json!(false));
    assert_eq!(
        out["errors"][0]["pointer"],
        "/servers/w/clients/web/client_uri"
    );
    assert_eq!(
        out["warnings"][0],
        json!({
            "message": "`token_endpoint_auth_methd` is not a field of a client (TreeClient): the platform drops it",
            "location": {"file": "templates/acme/workspaces/w/clients/web.yaml", "line": 3, "column": 1},
            "env": "local",
            "tenant": "acme",
            "pointer": "/servers/w/clients/web/token_endpoint_auth_methd",
            "hint": "did you mean `token_endpoint_auth_method`?",
            "tenant_count": 1,
            "tenants": ["acme"],
        })
    );
    assert_eq!(out["warnings"].as_array().unwrap().len(), 2);
}

/// A fleet of 2,000 tenants from one template does not print one warning 2,000 times.
#[test]
fn a_fleets_warning_is_shown_once_with_its_tenants() {
    let repo = TestRepo::empty();
    let tenants: String = (0..2000)
        .map(|i| format!("  t{i:04}: {{template: saas}}\n"))
        .collect();
    repo.write(
        "environments/prod.yaml",
        &format!("target:\n  url: https://prod.example.test\ntenants:\n{tenants}"),
    )
    .write("templates/saas/tenant.yaml", "name: saas\n")
    .write("templates/saas/workspaces/w/workspace.yaml", "name: W\n")
    .write(
        "templates/saas/workspaces/w/clients/web.yaml",
        "client_name: Web\nclient_urii: https://x\n",
    );
    let run = repo.run(&["validate"]);
    run.success()
        .stderr_contains("warning: templates/saas/workspaces/w/clients/web.yaml:2:1: `client_urii` is not a field of a client (TreeClient): the platform drops it (env prod)\n  at /servers/w/clients/web/client_urii\n  hint: did you mean `client_uri`?\n  in 2000 tenants: t0000, t0001, t0002, …")
        .stderr_contains("2000 tenant(s) in 1 environment(s): valid, 1 warning(s)");
    assert_eq!(run.stderr.matches("warning:").count(), 1, "{run}");
}

/// Plan and apply count the warnings in one line per environment; in a strict environment
/// they are errors there too, and nothing is applied.
#[test]
fn plan_and_apply_count_warnings_and_a_strict_environment_refuses_them() {
    let repo = typed_tenant(MISSPELLED, "");
    let line = "warning: 2 warning(s) in 1 tenant(s) of local: fields the platform does not know (it drops them), written in another case, or with values its API description does not list; run `promote validate --env local`";
    repo.run(&["plan", "--env", "local"])
        .success()
        .stderr_contains(line);
    // Applied, a misspelled field is dropped by the platform and its verification says so;
    // a value outside an enum is the platform's to judge.
    let repo = typed_tenant(
        "client_name: Web\ntoken_endpoint_auth_method: client_secret_basik\n",
        "",
    );
    repo.run(&["apply", "--env", "local", "--yes"])
        .success()
        .stderr_contains("warning: 1 warning(s) in 1 tenant(s) of local: ");
    let repo = typed_tenant(MISSPELLED, "strict: true\n");
    let plan = repo.run(&["plan", "--env", "local"]);
    plan.code(1)
        .shows("error: templates/acme/workspaces/w/clients/web.yaml:2:1: `token_endpoint_auth_methd` is not a field of a client (TreeClient): the platform drops it");
    assert!(!plan.stderr.contains("warning(s) in"), "{plan}");
    let apply = repo.run(&["apply", "--env", "local", "--yes"]);
    apply
        .code(1)
        .stderr_contains("nothing was applied: the repository has errors");
    assert!(
        !repo.join(&crate::support::emulator_file("acme")).exists(),
        "{apply}"
    );
}

/// ci counts the warnings of each environment it plans in one line; a strict environment
/// refuses them as errors.
#[test]
fn ci_counts_warnings_and_a_strict_environment_refuses_them() {
    for (extra, strict) in [("", false), ("strict: true\n", true)] {
        let repo = typed_tenant("client_name: Web\n", extra);
        let base = repo.commit("base");
        repo.write("templates/acme/workspaces/w/clients/web.yaml", MISSPELLED);
        let head = repo.commit("a misspelled field");
        let run = repo.run(&["ci", "--base", &base, "--head", &head]);
        if strict {
            run.code(1).shows(
                "`token_endpoint_auth_methd` is not a field of a client (TreeClient): the platform drops it",
            );
            assert!(!run.stderr.contains("warning(s) in"), "{run}");
        } else {
            run.success().stderr_contains(
                "warning: 2 warning(s) in 1 tenant(s) of local: fields the platform does not know",
            );
        }
    }
}

/// Regression (issue 18, the attacker's try): the pointer under a message was shown raw, so a
/// file name (or a quoted key) chosen by a pull request forged CI log commands and reordered
/// the text with bidirectional controls in validate's output.
#[test]
fn a_key_or_file_name_cannot_forge_a_ci_log_command() {
    let repo = typed_tenant("client_name: Web\n", "");
    repo.write(
        "templates/acme/workspaces/w/clients/evil%0A%3A%3Aerror%20file%3DREADME.md%3A%3AForged%0A%23%23%5Berror%5Dx%E2%80%AE.yaml",
        "client_name: x\nclient_uri: 5\n\"k\\n::warning::forged\\u2028\": 1\n",
    );
    let run = repo.run(&["validate"]);
    run.code(1);
    for line in run.stderr.lines() {
        assert!(!line.trim_start().starts_with("::"), "{line}\n{run}");
        // `##[` is escaped as `\##[`, which no runner reads as a command.
        let bare_command = line.replace("\\##[", "").contains("##[");
        assert!(
            !bare_command && !line.contains('\u{202E}') && !line.contains('\u{2028}'),
            "{line}\n{run}"
        );
    }
    run.stderr_contains("at /servers/w/clients/evil\\n::error file=README.md::Forged\\n\\##[error]x\\u{202e}/client_uri");
}

/// Regression (issue 18, the attacker's try): every problem was located in its template by a
/// search of the file, so 10,000 unknown keys took half a minute and 20,000 did not end. A
/// tenant shows its first problems and counts the rest.
#[test]
fn thousands_of_problems_in_one_tenant_are_shown_by_the_first_and_a_count() {
    let client: String = std::iter::once("client_name: big\n".to_owned())
        .chain((0..10_000).map(|i| format!("u{i}: 1\n")))
        .collect();
    let repo = typed_tenant(&client, "");
    let run = repo.run(&["validate"]);
    run.success()
        .stderr_contains("and 9950 more warnings in this tenant, not shown (the first 50 are)");
    assert!(run.stderr.len() < 40_000, "{} bytes", run.stderr.len());
}

/// Regression (issue 18, the attacker's try): plain text in a misspelled credential field was
/// a warning, and plan showed the value.
#[test]
fn plain_text_in_a_misspelled_credential_field_is_refused_and_never_shown() {
    let repo = typed_tenant("client_name: Web\nclient_secrt: sk_live_TYPOPLAIN\n", "");
    repo.run(&["validate"])
        .code(1)
        .stderr_contains("where `client_secret`, a credential, is meant")
        .never_shows("sk_live_TYPOPLAIN");
    repo.run(&["plan", "--env", "local"])
        .code(1)
        .never_shows("sk_live_TYPOPLAIN");
}

/// From the attacker's try: a key inside a credential field that the model does not know was
/// named in the warning and its pointer (`credentials/google/sk_live_...`); it may be the
/// secret. It is said at the field, without the key. From a later try: with a boolean under it
/// (which a structured credential field takes), the key passed `validate` with a warning: it is
/// refused, unless it holds a `secret()` (a field the model does not know yet, written as a
/// credential is), which stays a warning.
#[test]
fn an_unknown_key_inside_a_credential_field_is_not_repeated() {
    let repo = TestRepo::example();
    let file = "templates/acme/workspaces/default/idps/google.yaml";
    let original = repo.read(file);
    let line = "    client_secret: '{{ secret(\"ACME_GOOGLE_SECRET\") }}'\n";
    let text = original.replace(line, &format!("{line}    sk_live_PLANTED_K3: true\n"));
    repo.write(file, &text);
    let run = repo.run(&["validate", "--env", "local"]);
    assert!(!run.stderr.contains("sk_live"), "{run}");
    assert!(!run.stdout.contains("sk_live"), "{run}");
    run.code(1).stderr_contains(
        "a key inside the credential field `credentials` is not a field of GoogleCredentials, and holds no secret(): the key may be a secret written in plain text (it is not shown)",
    );
    let text = original.replace(
        line,
        &format!("{line}    future_secret: '{{{{ secret(\"ACME_FUTURE\") }}}}'\n"),
    );
    repo.write(file, &text);
    repo.run(&["validate", "--env", "local"])
        .success()
        .stderr_contains("warning: ")
        .stderr_contains("a key inside the credential field `credentials` is not a field of GoogleCredentials: the platform drops it");
}

/// Tenants built from one template's shapes are validated at their holes (the values their
/// tags write) once the template's own text is known clean: each kind of finding a value can
/// make (a wrong type, a value outside an enum, plain text in a credential field, a reference
/// to nothing, a null where a list goes), in a template with a selector and a file that is not
/// YAML, is found and said exactly as validating every tree whole (`PROMOTE_NO_CACHE=1`) says
/// it, in text and JSON, and the tenants whose values are fine stay valid.
#[test]
fn values_in_a_templates_holes_are_validated_as_whole_trees_are() {
    let repo = TestRepo::empty();
    let tenant =
        |key: &str, vars: &str| format!("  {key}:\n    template: t\n    vars: {{{vars}}}\n");
    let fine = "uri: 'https://a.example', method: none, policy: allow, grant: implicit, secret: '~', gold: true, note: n1";
    let env = [
        tenant("fine", fine),
        tenant(
            "fine2",
            &fine
                .replace("gold: true", "gold: false")
                .replace("a.example", "b.example"),
        ),
        tenant("mistyped", &fine.replace("'https://a.example'", "8443")),
        tenant(
            "outside",
            &fine.replace("method: none", "method: client_secret_basik"),
        ),
        tenant(
            "leaky",
            &fine.replace("secret: '~'", "secret: hunter2-in-git"),
        ),
        tenant("dangling", &fine.replace("policy: allow", "policy: gone")),
        tenant("listless", &fine.replace("grant: implicit", "grant: '~'")),
        tenant(
            "nulls",
            &fine.replace("uri: 'https://a.example'", "uri: '~'"),
        ),
        tenant("yes", &fine.replace("'https://a.example'", "'yes'")),
        tenant("boolean", &fine.replace("'https://a.example'", "'true'")),
        // Its policy file is rendered and parsed: no pattern.
        tenant("commented", &fine.replace("note: n1", "note: 'x #1'")),
    ]
    .concat();
    repo.write(
        "environments/local.yaml",
        &format!("target:\n  emulator: .promote/emulator\ntenants:\n{env}"),
    )
    .write("templates/t/tenant.yaml", "name: {{ tenant.key }}\n")
    .write(
        "templates/t/workspaces/w/workspace.yaml",
        "name: W\n{% if vars.gold %}\ndescription: gold\n{% else %}\ndescription: other\n{% endif %}\npolicy_execution_points:\n  client_access: {{ vars.policy }}\n",
    )
    .write("templates/t/workspaces/w/policies/allow.yaml", "policy_name: Allow {{ vars.note }}\nlanguage: rego\n")
    .write("templates/t/workspaces/w/policies/allow.rego", "package allow # {{ tenant.key }}\n")
    .write(
        "templates/t/workspaces/w/clients/web.yaml",
        "client_name: Web {{ tenant.key }}\nclient_uri: {{ vars.uri }}\ntoken_endpoint_auth_method: {{ vars.method }}\nclient_secret: {{ vars.secret }}\ngrant_types: [{{ vars.grant }}]\nredirect_uris: [{{ vars.uri }}]\n",
    )
    .write(".gitignore", ".promote/\n")
    .git_init()
    .commit("tenants of one template");
    for args in [
        &["validate"][..],
        &["validate", "--output", "json"],
        &["render"],
    ] {
        let holes = repo.run(args);
        let whole = repo.run_env(args, &[("PROMOTE_NO_CACHE", "1")]);
        assert_eq!(
            (holes.code, &holes.stdout, &holes.stderr),
            (whole.code, &whole.stdout, &whole.stderr),
            "{args:?}"
        );
    }
    let run = repo.run(&["validate"]);
    run.code(1)
        .stderr_contains("`client_uri` must be a string, not a number")
        .stderr_contains(
            "a value the platform's API description does not list (env local, tenant outside)",
        )
        .stderr_contains("plain-text credential in the repository (env local, tenant leaky)")
        .stderr_contains("(env local, tenant dangling)")
        .stderr_contains("`client_uri` must be a string, not a boolean")
        .never_shows("hunter2-in-git");
    for key in ["fine", "fine2", "listless", "nulls", "yes", "commented"] {
        assert!(
            !run.stderr.contains(&format!("tenant {key})")),
            "{key}: {run}"
        );
    }
}

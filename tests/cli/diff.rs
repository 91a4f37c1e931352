//! `promote diff OLD NEW`: the patch between two trees, in JSON or YAML files or YAML
//! directories, that turns OLD into NEW when applied, with credentials redacted.

use serde_json::{json, Value};

use crate::support::TestRepo;

/// Returns a repository holding `old.json` and `new.json`.
fn pair(old: &Value, new: &Value) -> TestRepo {
    let repo = TestRepo::empty();
    repo.write("old.json", &old.to_string())
        .write("new.json", &new.to_string());
    repo
}

/// Applies a patch as `promote diff` prints it (a merge document or a list of ops).
fn apply(old: &Value, patch: &Value) -> Value {
    let mut doc = old.clone();
    if patch.is_array() {
        let ops: json_patch::Patch = serde_json::from_value(patch.clone()).unwrap();
        json_patch::patch(&mut doc, &ops).unwrap();
    } else {
        json_patch::merge(&mut doc, patch);
    }
    doc
}

#[test]
fn json_files_give_the_exact_merge_patch() {
    let old = json!({"name": "acme", "ttl": 600, "settings": {"a": 1, "b": 2}, "gone": true, "list": [1]});
    let new = json!({"name": "acme", "ttl": 900, "settings": {"a": 1, "c": 3}, "list": [1, 2]});
    let repo = pair(&old, &new);
    let run = repo.run(&["diff", "old.json", "new.json"]);
    run.success();
    let patch = run.stdout_json();
    assert_eq!(
        patch,
        json!({"ttl": 900, "settings": {"b": null, "c": 3}, "gone": null, "list": [1, 2]})
    );
    assert_eq!(apply(&old, &patch), new);
    assert!(run.stdout.ends_with("}\n"), "{run}");
}

#[test]
fn setting_null_gives_json_patch_ops() {
    let old = json!({"name": "acme", "description": "old", "settings": {"x": 1}});
    let new = json!({"name": "acme", "description": null, "settings": {"x": 1}});
    let repo = pair(&old, &new);
    let run = repo.run(&["diff", "old.json", "new.json"]);
    run.success();
    let patch = run.stdout_json();
    assert_eq!(
        patch,
        json!([{"op": "replace", "path": "/description", "value": null}])
    );
    assert_eq!(apply(&old, &patch), new);
}

#[test]
fn merge_format_refuses_a_change_it_cannot_express() {
    let repo = pair(&json!({"a": 1}), &json!({"a": null}));
    repo.run(&["diff", "--format", "7396", "old.json", "new.json"])
        .code(1)
        .stderr_contains("RFC 7396 merge patch cannot express this change exactly")
        .stderr_contains("--format 6902");
    // What it can express, it prints.
    let repo = pair(&json!({"a": 1}), &json!({"a": 2}));
    let run = repo.run(&["diff", "--format", "7396", "old.json", "new.json"]);
    run.success();
    assert_eq!(run.stdout_json(), json!({"a": 2}));
}

#[test]
fn json_patch_with_tests_starts_with_test_ops() {
    let old = json!({"a": 1, "b": {"c": "x", "d": [1]}, "e": true});
    let new = json!({"a": 2, "b": {"c": "x", "d": [1, 2], "f": 0}});
    let repo = pair(&old, &new);
    let run = repo.run(&[
        "diff",
        "--format",
        "6902",
        "--with-tests",
        "old.json",
        "new.json",
    ]);
    run.success();
    let patch = run.stdout_json();
    assert_eq!(
        patch,
        json!([
            {"op": "test", "path": "/a", "value": 1},
            {"op": "test", "path": "/b/d", "value": [1]},
            {"op": "test", "path": "/e", "value": true},
            {"op": "replace", "path": "/a", "value": 2},
            {"op": "replace", "path": "/b/d", "value": [1, 2]},
            {"op": "add", "path": "/b/f", "value": 0},
            {"op": "remove", "path": "/e"},
        ])
    );
    assert_eq!(apply(&old, &patch), new);
    // The tests guard the patch: against anything but OLD it fails and changes nothing.
    let ops: json_patch::Patch = serde_json::from_value(patch).unwrap();
    let mut drifted = json!({"a": 5, "b": {"c": "x", "d": [1]}, "e": true});
    assert!(json_patch::patch(&mut drifted, &ops).is_err());
    assert_eq!(
        drifted,
        json!({"a": 5, "b": {"c": "x", "d": [1]}, "e": true})
    );
}

#[test]
fn yaml_files() {
    let repo = TestRepo::empty();
    repo.write(
        "old.yaml",
        "name: acme\nsettings:\n  ttl: 10m\n  origins: [a.example]\n",
    )
    .write(
        "new.yml",
        "name: acme\nsettings:\n  ttl: 15m\n  origins: [a.example, b.example]\n",
    );
    let run = repo.run(&["diff", "old.yaml", "new.yml"]);
    run.success();
    assert_eq!(
        run.stdout_json(),
        json!({"settings": {"ttl": "15m", "origins": ["a.example", "b.example"]}})
    );
    // YAML against JSON of the same tree: no difference.
    repo.write(
        "same.json",
        r#"{"name": "acme", "settings": {"ttl": "10m", "origins": ["a.example"]}}"#,
    );
    let run = repo.run(&["diff", "old.yaml", "same.json"]);
    run.success();
    assert_eq!(run.stdout_json(), json!({}));
}

/// YAML directories in the repository layout (a tenant or a workspace) diff like the trees
/// they hold.
#[test]
fn yaml_directories() {
    let repo = TestRepo::example();
    for env in ["staging", "prod"] {
        repo.run(&["render", "--env", env, "--out", &format!("json-{env}")])
            .success();
        repo.run(&[
            "render",
            "--env",
            env,
            "--format",
            "yaml",
            "--out",
            &format!("yaml-{env}"),
        ])
        .success();
    }
    let of_files = repo.run(&["diff", "json-staging/acme.json", "json-prod/acme.json"]);
    of_files.success();
    let patch = of_files.stdout_json();
    assert!(
        patch["servers"]["default"].is_object(),
        "staging and prod differ in the default workspace: {patch}"
    );
    let of_dirs = repo.run(&["diff", "yaml-staging/acme", "yaml-prod/acme"]);
    of_dirs.success();
    assert_eq!(of_dirs.stdout, of_files.stdout);
    // A directory against a file.
    let mixed = repo.run(&["diff", "yaml-staging/acme", "json-prod/acme.json"]);
    assert_eq!(mixed.stdout, of_files.stdout);
    // A workspace directory.
    let workspace = repo.run(&[
        "diff",
        "yaml-staging/acme/workspaces/default",
        "yaml-prod/acme/workspaces/default",
    ]);
    workspace.success();
    assert_eq!(workspace.stdout_json(), patch["servers"]["default"]);
}

/// The printed patch, applied to OLD with an RFC 6902 / 7396 implementation other than
/// promote's, gives NEW.
#[test]
fn printed_patches_apply_to_old_and_give_new() {
    let repo = TestRepo::example();
    for env in ["staging", "prod"] {
        repo.run(&["render", "--env", env, "--out", env]).success();
    }
    for key in ["acme", "globex"] {
        let old_path = format!("staging/{key}.json");
        let new_path = format!("prod/{key}.json");
        let old = repo.json(&old_path);
        let new = repo.json(&new_path);
        assert_ne!(old, new);
        for format in ["auto", "7396", "6902"] {
            let mut args = vec!["diff", "--format", format, &old_path, &new_path];
            if format == "6902" {
                args.push("--with-tests");
            }
            let run = repo.run(&args);
            run.success();
            let patch = run.stdout_json();
            assert_eq!(patch.is_array(), format == "6902", "{format}: {patch}");
            assert_eq!(apply(&old, &patch), new, "{key}, --format {format}");
        }
    }
    // A change only RFC 6902 can say.
    let old = repo.json("prod/globex.json");
    let mut new = old.clone();
    new["settings"]["default_workspace_id"] = Value::Null;
    new["servers"]["app"]["clients"] = json!({});
    repo.write("nulled.json", &new.to_string());
    let run = repo.run(&["diff", "prod/globex.json", "nulled.json"]);
    run.success();
    let patch = run.stdout_json();
    assert!(patch.is_array(), "{patch}");
    assert_eq!(apply(&old, &patch), new);
}

#[test]
fn credential_values_are_redacted_unless_asked() {
    let old = json!({
        "name": "w",
        "secret": "workspace-secret-old",
        "clients": {"backend": {"client_name": "Backend", "client_secret": "backend-secret-old"}},
        "idps": {"corp": {"credentials": {"client_secret": "idp-secret-old"}}},
        "webhooks": {"hook": {"url": "https://hooks.example", "api_key": "hook-key-old"}},
    });
    let new = json!({
        "name": "w",
        "secret": "workspace-secret-new",
        "clients": {
            "backend": {"client_name": "Backend 2", "client_secret": "backend-secret-new"},
            "added": {"client_name": "Added", "client_secret": "added-secret-new"},
        },
        "idps": {"corp": {"credentials": {"client_secret": "idp-secret-new"}}},
        "webhooks": {"hook": {"url": "https://hooks.example", "api_key": "hook-key-new"}},
    });
    let repo = pair(&old, &new);
    let plain = [
        "workspace-secret",
        "backend-secret",
        "added-secret",
        "idp-secret",
        "hook-key",
    ];
    let run = repo.run(&["diff", "old.json", "new.json"]);
    run.success();
    for secret in plain {
        run.never_shows(secret);
    }
    assert_eq!(
        run.stdout_json(),
        json!({
            "secret": "<redacted>",
            "clients": {
                "backend": {"client_name": "Backend 2", "client_secret": "<redacted>"},
                "added": {"client_name": "Added", "client_secret": "<redacted>"},
            },
            "idps": {"corp": {"credentials": "<redacted>"}},
            "webhooks": {"hook": {"api_key": "<redacted>"}},
        })
    );
    // Test ops carry the old values: redacted too.
    let run = repo.run(&[
        "diff",
        "--format",
        "6902",
        "--with-tests",
        "old.json",
        "new.json",
    ]);
    run.success();
    for secret in plain {
        run.never_shows(secret);
    }
    run.stdout_contains("\"op\": \"test\"")
        .stdout_contains("<redacted>");
    // --unredacted prints the applicable patch, and warns.
    let run = repo.run(&["diff", "--unredacted", "old.json", "new.json"]);
    run.success()
        .stderr_contains("warning: --unredacted prints credentials in plain text");
    assert_eq!(apply(&old, &run.stdout_json()), new);
    run.never_shows("<redacted>");
}

/// In a tenant tree, credentials are found under every workspace and in MFA methods.
#[test]
fn tenant_credentials_are_redacted() {
    let old = json!({"name": "t", "servers": {}, "mfa_methods": {}});
    let new = json!({
        "name": "t",
        "mfa_methods": {"sms": {"enabled": true, "auth": {"token": "sms-token-plain"}}},
        "servers": {"w": {"secret": "ws-secret-plain", "clients": {"c": {"client_secret": "c-secret-plain", "hashed_secret": "hash-plain"}}}},
    });
    let repo = pair(&old, &new);
    for format in ["auto", "6902"] {
        let run = repo.run(&["diff", "--format", format, "old.json", "new.json"]);
        run.success();
        for secret in [
            "sms-token-plain",
            "ws-secret-plain",
            "c-secret-plain",
            "hash-plain",
        ] {
            run.never_shows(secret);
        }
        run.stdout_contains("<redacted>");
    }
}

/// What lies inside a credential field is not shown, its keys included: a key can be the
/// secret (`api_key: {"sk_live_...": true}`), and an op's path or a merge document's member
/// would show it where the value is redacted.
#[test]
fn keys_inside_a_credential_field_are_not_shown() {
    let secret = "sk_live_4eC39HqLyjWDarjtT1zdp7dc";
    let old = json!({"servers": {"w": {
        "webhooks": {"h": {"url": "u", "api_key": {secret: true}}},
        "idps": {"i": {"method": "oidc", "credentials": {secret: "a", "kept": "b"}}},
    }}});
    let new = json!({"servers": {"w": {
        "webhooks": {"h": {"url": "u", "api_key": {secret: false}}},
        "idps": {"i": {"method": "oidc", "credentials": {"kept": "b"}}},
    }}});
    let repo = pair(&old, &new);
    // Test ops (--with-tests) are ops: not in a merge document.
    for (format, tests) in [
        ("auto", false),
        ("auto", true),
        ("6902", false),
        ("6902", true),
        ("7396", false),
    ] {
        let mut args = vec!["diff", "--format", format, "old.json", "new.json"];
        if tests {
            args.push("--with-tests");
        }
        let run = repo.run(&args);
        run.success();
        run.never_shows(secret);
        run.stdout_contains("<redacted>");
    }
    // An op below a field ends at it.
    let run = repo.run(&["diff", "--format", "6902", "old.json", "new.json"]);
    run.stdout_contains("/servers/w/webhooks/h/api_key/<redacted>");
    // Below the field, an op's value is redacted too: its keys would show what the path hides.
    let old = json!({"servers": {"w": {"idps": {"g": {"credentials": {"a": "<secret:A>"}}}}}});
    let new = json!({"servers": {"w": {"idps": {"g": {"credentials": {"a": "<secret:A>", "d": {secret: "<secret:C>"}}}}}}});
    let run = pair(&old, &new).run(&["diff", "--format", "6902", "old.json", "new.json"]);
    run.success();
    run.never_shows(secret);
    // A YAML file that does not parse: its error names no key or value inside a field.
    let repo = TestRepo::empty();
    repo.write("e.yaml", "{}\n").write(
        "bad.yaml",
        &format!("idps:\n  g:\n    credentials:\n      {secret}: !!int {secret}\n"),
    );
    let run = repo.run(&["diff", "e.yaml", "bad.yaml"]);
    run.code(1);
    run.never_shows(secret);
    run.stderr_contains("bad.yaml:4:");
    // Nor is a value shaped like a `secret()` marker: neither tree is known to be the
    // repository's rendering, and a secret may have that shape (`<secret:sk_live_...>`).
    let marked = json!({"servers": {"w": {
        "idps": {"i": {"method": "oidc", "credentials": {"client_secret": "<secret:sk_live_1>"}}},
        "webhooks": {"h": {"url": "u", "api_key": "<secret:sk_live_2>"}},
    }}});
    let repo = pair(&json!({"servers": {"w": {}}}), &marked);
    for format in ["auto", "6902"] {
        let run = repo.run(&["diff", "--format", format, "old.json", "new.json"]);
        run.success();
        run.never_shows("sk_live");
        run.stdout_contains("<redacted>");
    }
    let run = repo.run(&["diff", "--unredacted", "old.json", "new.json"]);
    run.success().stdout_contains("<secret:sk_live_2>");
}

#[test]
fn detailed_exitcode_says_whether_the_trees_differ() {
    let repo = pair(&json!({"a": 1}), &json!({"a": 2}));
    let run = repo.run(&["diff", "--detailed-exitcode", "old.json", "new.json"]);
    run.code(2);
    assert_eq!(run.stdout_json(), json!({"a": 2}));
    let run = repo.run(&["diff", "--detailed-exitcode", "old.json", "old.json"]);
    run.success();
    assert_eq!(run.stdout_json(), json!({}));
    // Without the flag, differences are not an exit code.
    repo.run(&["diff", "old.json", "new.json"]).success();
}

/// An entry file (one client, one MFA method) holds credentials as much as a whole tree does;
/// `diff` of two exported entry files must not print them.
#[test]
fn entry_files_are_redacted_too() {
    let repo = TestRepo::empty();
    repo.write(
        "old/backend.yaml",
        "client_name: Backend\nclient_secret: backend-old-plain\n",
    )
    .write(
        "new/backend.yaml",
        "client_name: Backend\nclient_secret: backend-new-plain\n",
    )
    .write("old/sms.yaml", "name: sms\nauth: {token: sms-old-plain}\n")
    .write("new/sms.yaml", "name: sms\nauth: {token: sms-new-plain}\n");
    for file in ["backend.yaml", "sms.yaml"] {
        let run = repo.run(&["diff", &format!("old/{file}"), &format!("new/{file}")]);
        run.success()
            .never_shows("-old-plain")
            .never_shows("-new-plain");
    }
}

/// From the attacker's try: a server's key set holds keys outside `keys` (the next ones and the
/// revoked ones); their private members are credentials by place too, at the tenant and in
/// each workspace, with no `kty` to go by.
#[test]
fn private_members_of_next_and_revoked_keys_are_redacted() {
    let keys = |tag: &str| {
        json!({
            "next_signing_key": {"d": format!("sk_live_{tag}_1")},
            "next_encryption_key": {"p": format!("sk_live_{tag}_2")},
            "revoked_signing_keys": [{"q": format!("sk_live_{tag}_3")}],
            "revoked_encryption_keys": [{"oth": [{"r": format!("sk_live_{tag}_4")}]}],
        })
    };
    let old = json!({"jwks": keys("T"), "servers": {"w": {"jwks": keys("W")}}});
    let new = json!({"servers": {"w": {}}});
    let repo = pair(&old, &new);
    for format in ["auto", "6902"] {
        for tests in [false, true] {
            let mut args = vec!["diff", "--format", format, "new.json", "old.json"];
            if tests {
                args.push("--with-tests");
            }
            let run = repo.run(&args);
            run.success();
            run.never_shows("sk_live");
        }
    }
}

//! `promote render`: the trees an environment's tenants render to, as JSON files, as YAML
//! directories in the repository layout, or printed.

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::{json, Value};

use crate::support::{strings, TestRepo};

const PROD_TENANTS: [&str; 4] = ["acme", "globex", "initech", "umbrella"];

/// Returns the names of the entries of a directory, sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

/// Returns every file under `dir` with its bytes, by path relative to `dir`.
fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
        for name in names(dir) {
            let path = dir.join(&name);
            if path.is_dir() {
                walk(base, &path, out);
            } else {
                let rel = path.strip_prefix(base).unwrap().display().to_string();
                out.push((rel, std::fs::read(&path).unwrap()));
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out
}

#[test]
fn writes_one_json_file_per_tenant() {
    let repo = TestRepo::example();
    repo.run(&["render", "--env", "prod", "--out", "out"])
        .success();
    assert_eq!(
        names(&repo.join("out")),
        PROD_TENANTS.map(|t| format!("{t}.json"))
    );
    for (key, name) in [
        ("acme", "Acme Corp"),
        ("globex", "Globex Corporation"),
        ("initech", "Initech"),
        ("umbrella", "Umbrella Corporation"),
    ] {
        let tree = repo.json(&format!("out/{key}.json"));
        assert_eq!(tree["name"], json!(name));
        // The tenant ID of the environment, not the template's name.
        assert_eq!(
            tree["url"],
            json!(format!("https://acme.us.connect.secureauth.com/{key}-prod"))
        );
    }
    let acme = repo.json("out/acme.json");
    let workspaces: Vec<&String> = acme["servers"].as_object().unwrap().keys().collect();
    assert_eq!(workspaces, ["default", "workforce"]);
    // A sidecar is rendered like any template and folded back into its entry.
    let script = &acme["servers"]["default"]["scripts"]["enrich-loyalty-tier"];
    let body = script["body"].as_str().unwrap();
    assert!(
        body.starts_with(
            "// Post-authentication extension of the Acme account IDP (acme-prod, prod).\n"
        ),
        "{body}"
    );
    assert!(
        body.contains("const LOYALTY_API = 'https://loyalty.acme.com/v1';\n"),
        "{body}"
    );
}

/// Credential fields hold secret markers, never a value: what `render` writes can be shown.
#[test]
fn rendered_trees_hold_secret_markers_and_no_plain_credential() {
    let repo = TestRepo::example();
    repo.run(&["render", "--env", "prod", "--out", "out"])
        .success();
    let credential_keys = [
        "client_secret",
        "hashed_secret",
        "registration_token",
        "rotated_secrets",
        "api_key",
        "secret",
        "sid",
        "auth_token",
    ];
    let mut markers = BTreeSet::new();
    for key in PROD_TENANTS {
        let tree = repo.json(&format!("out/{key}.json"));
        for (pointer, value) in strings(&tree) {
            let last = pointer.rsplit('/').next().unwrap();
            let is_credential = credential_keys.contains(&last)
                || pointer.contains("/credentials/")
                || pointer.contains("/auth/");
            if is_credential {
                assert!(
                    value.starts_with("<secret:") && value.ends_with('>'),
                    "{key}.json{pointer} holds {value:?}, not a secret marker"
                );
            }
            if value.starts_with("<secret:") {
                markers.insert(format!("{key}{pointer} = {value}"));
            }
        }
    }
    assert_eq!(
        markers.into_iter().collect::<Vec<_>>(),
        [
            "acme/mfa_methods/sms/auth/sms/auth_token = <secret:ACME_TWILIO_AUTH_TOKEN>",
            "acme/mfa_methods/sms/auth/sms/sid = <secret:ACME_TWILIO_ACCOUNT_SID>",
            "acme/servers/default/idps/google/credentials/google/client_secret = <secret:ACME_GOOGLE_SECRET>",
            "acme/servers/default/webhooks/crm-events/api_key = <secret:ACME_WEBHOOK_KEY>",
            "acme/servers/workforce/idps/entra-id/credentials/azure/client_secret = <secret:ACME_ENTRA_SECRET>",
        ]
    );
}

#[test]
fn renders_only_the_tenants_asked_for() {
    let repo = TestRepo::example();
    repo.run(&[
        "render", "--env", "prod", "--tenant", "acme", "--out", "out",
    ])
    .success();
    assert_eq!(names(&repo.join("out")), ["acme.json"]);
    // A tenant can be named by its ID too; printed, the object has that one key.
    let run = repo.run(&["render", "--env", "prod", "--tenant", "umbrella-prod"]);
    run.success();
    let printed = run.stdout_json();
    let keys: Vec<&String> = printed.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["umbrella"]);
    assert_eq!(printed["umbrella"]["name"], json!("Umbrella Corporation"));
}

#[test]
fn prints_one_object_keyed_by_tenant_without_out() {
    let repo = TestRepo::example();
    repo.run(&["render", "--env", "prod", "--out", "out"])
        .success();
    let run = repo.run(&["render", "--env", "prod"]);
    run.success();
    let printed = run.stdout_json();
    let keys: Vec<&String> = printed.as_object().unwrap().keys().collect();
    assert_eq!(keys, PROD_TENANTS);
    for key in PROD_TENANTS {
        assert_eq!(
            printed[key],
            repo.json(&format!("out/{key}.json")),
            "printed {key} differs from out/{key}.json"
        );
    }
}

/// `--format yaml` writes the repository layout, and reading that layout back gives the same
/// tree: `diff` of the directory against the JSON file is empty, for every tenant.
#[test]
fn yaml_layout_round_trips_to_the_same_tree() {
    let repo = TestRepo::example();
    repo.run(&["render", "--env", "prod", "--out", "json"])
        .success();
    repo.run(&[
        "render", "--env", "prod", "--format", "yaml", "--out", "yaml",
    ])
    .success();
    assert_eq!(names(&repo.join("yaml")), PROD_TENANTS);
    for rel in [
        "yaml/acme/tenant.yaml",
        "yaml/acme/mfa_methods/sms.yaml",
        "yaml/acme/workspaces/default/workspace.yaml",
        "yaml/acme/workspaces/default/clients/storefront-spa.yaml",
        "yaml/acme/workspaces/default/scripts/enrich-loyalty-tier.js",
        "yaml/acme/workspaces/default/policies/orders-write-rego.rego",
        "yaml/acme/workspaces/default/claims/id_token/email.yaml",
        "yaml/globex/workspaces/app/workspace.yaml",
    ] {
        assert!(repo.join(rel).is_file(), "{rel} was not written");
    }
    // The sidecar's field is not repeated in the entry's YAML.
    let script = repo.read("yaml/acme/workspaces/default/scripts/enrich-loyalty-tier.yaml");
    assert!(!script.contains("body"), "{script}");
    for key in PROD_TENANTS {
        let run = repo.run(&["diff", &format!("yaml/{key}"), &format!("json/{key}.json")]);
        run.success();
        assert_eq!(run.stdout_json(), json!({}), "{key}: {run}");
    }
}

#[test]
fn rendering_twice_gives_identical_bytes() {
    let repo = TestRepo::example();
    for out in ["a", "b"] {
        repo.run(&["render", "--env", "prod", "--out", &format!("{out}/json")])
            .success();
        repo.run(&[
            "render",
            "--env",
            "prod",
            "--format",
            "yaml",
            "--out",
            &format!("{out}/yaml"),
        ])
        .success();
    }
    let first = files(&repo.join("a"));
    assert!(first.len() > 100, "only {} files", first.len());
    let second = files(&repo.join("b"));
    let names = |f: &[(String, Vec<u8>)]| f.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
    assert_eq!(names(&first), names(&second));
    for ((name, a), (_, b)) in first.iter().zip(&second) {
        assert!(a == b, "{name} differs between two renders");
    }
    let printed = repo.run(&["render", "--env", "prod"]);
    let again = repo.run(&["render", "--env", "prod"]);
    assert_eq!(printed.stdout, again.stdout);
}

/// An entry file that renders to nothing is left out, with its sidecar: that is how a
/// template makes an entry exist for some tenants only.
#[test]
fn entries_that_render_to_nothing_are_omitted() {
    let repo = TestRepo::empty();
    repo.write(
        "environments/prod.yaml",
        "target:\n  url: https://prod.example.test\ntenants:\n  gold: {template: app, vars: {plan: gold}}\n  silver: {template: app, vars: {plan: silver}}\n",
    )
    .write("templates/app/tenant.yaml", "name: {{ tenant.key }}\n")
    .write("templates/app/workspaces/main/workspace.yaml", "name: Main\n")
    .write(
        "templates/app/workspaces/main/clients/web.yaml",
        "client_name: Web\n",
    )
    .write(
        "templates/app/workspaces/main/clients/never.yaml",
        "{% if false %}\nclient_name: Never\n{% endif %}\n",
    )
    .write(
        "templates/app/workspaces/main/scripts/gold-only.yaml",
        "{% if vars.plan == \"gold\" %}\nname: Gold perks\n{% endif %}\n",
    )
    .write(
        "templates/app/workspaces/main/scripts/gold-only.js",
        "// perks for {{ tenant.key }}\n",
    );
    let run = repo.run(&["render", "--env", "prod"]);
    run.success();
    let trees = run.stdout_json();
    assert_eq!(
        trees,
        json!({
            "gold": {"name": "gold", "servers": {"main": {
                "name": "Main",
                "clients": {"web": {"client_name": "Web"}},
                "scripts": {"gold-only": {"name": "Gold perks", "body": "// perks for gold\n"}},
            }}},
            "silver": {"name": "silver", "servers": {"main": {
                "name": "Main",
                "clients": {"web": {"client_name": "Web"}},
            }}},
        })
    );
    let silver: &Value = &trees["silver"];
    assert!(silver["servers"]["main"].get("scripts").is_none());
}

/// The README: "Invalid tenants are reported and not written"; the others are.
#[test]
fn invalid_tenants_are_reported_and_not_written() {
    let repo = TestRepo::example();
    let client = "templates/acme/workspaces/default/clients/crm-sync.yaml";
    let mut text = repo.read(client);
    text.push_str("client_secret: crm-sync-plain-secret\n");
    repo.write(client, &text);
    let run = repo.run(&["render", "--env", "prod", "--out", "out"]);
    run.code(1)
        .stderr_contains("templates/acme/workspaces/default/clients/crm-sync.yaml:")
        .stderr_contains("plain-text credential in the repository (env prod, tenant acme)")
        .never_shows("crm-sync-plain-secret");
    assert_eq!(
        names(&repo.join("out")),
        ["globex.json", "initech.json", "umbrella.json"]
    );
    let printed = repo.run(&["render", "--env", "prod"]);
    printed.code(1);
    let keys: Vec<String> = printed
        .stdout_json()
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    assert_eq!(keys, ["globex", "initech", "umbrella"]);
}

/// Rendering YAML over an earlier render replaces the tenant's directory: an entry deleted
/// from the repository does not linger in the output.
#[test]
fn rerendering_yaml_drops_deleted_entries() {
    let repo = TestRepo::example();
    repo.run(&[
        "render", "--env", "prod", "--format", "yaml", "--out", "yaml",
    ])
    .success();
    let stale = "yaml/acme/workspaces/default/clients/crm-sync.yaml";
    assert!(repo.join(stale).is_file());
    repo.remove("templates/acme/workspaces/default/clients/crm-sync.yaml");
    repo.run(&[
        "render", "--env", "prod", "--format", "yaml", "--out", "yaml",
    ])
    .success();
    assert!(!repo.join(stale).exists(), "{stale} is still there");
    repo.run(&["render", "--env", "prod", "--out", "json"])
        .success();
    let run = repo.run(&["diff", "yaml/acme", "json/acme.json"]);
    assert_eq!(run.stdout_json(), json!({}));
}

/// A key that is not a plain file name is percent-encoded in the layout, and decoded back.
#[test]
fn percent_encoded_keys_round_trip() {
    let repo = TestRepo::empty();
    repo.write(
        "environments/prod.yaml",
        "target:\n  url: https://prod.example.test\n",
    )
    .write("templates/t/tenant.yaml", "name: t\n")
    .write("templates/t/workspaces/main/workspace.yaml", "name: Main\n")
    .write(
        "templates/t/workspaces/main/clients/partner%2Fportal%20app.yaml",
        "client_name: Partner portal\n",
    );
    let run = repo.run(&["render", "--env", "prod"]);
    run.success();
    let clients = &run.stdout_json()["t"]["servers"]["main"]["clients"];
    assert_eq!(
        clients,
        &json!({"partner/portal app": {"client_name": "Partner portal"}})
    );
    repo.run(&[
        "render", "--env", "prod", "--format", "yaml", "--out", "yaml",
    ])
    .success();
    assert!(repo
        .join("yaml/t/workspaces/main/clients/partner%2Fportal%20app.yaml")
        .is_file());
    repo.run(&["render", "--env", "prod", "--out", "json"])
        .success();
    let run = repo.run(&["diff", "yaml/t", "json/t.json"]);
    assert_eq!(run.stdout_json(), json!({}));
}

/// YAML merge keys (`<<: *base`) are YAML 1.1; a tree must not carry a key named `<<` to the
/// platform. Either the merge is applied or the file is refused.
#[test]
fn yaml_merge_keys_are_applied_or_refused() {
    let repo = TestRepo::empty();
    repo.write(
        "environments/prod.yaml",
        "target:\n  url: https://prod.example.test\n",
    )
    .write(
        "templates/t/tenant.yaml",
        "name: t\nsettings: &base {x: 1, y: 2}\nmetadata:\n  <<: *base\n  z: 3\n",
    );
    let run = repo.run(&["render", "--env", "prod"]);
    if run.code == 0 {
        assert_eq!(
            run.stdout_json()["t"]["metadata"],
            json!({"x": 1, "y": 2, "z": 3})
        );
    } else {
        run.code(1).stderr_contains("templates/t/tenant.yaml");
    }
}

/// The shipped example teaches the platform's own field names: every tenant of every
/// environment renders to a tree the platform's decoder reads with no wrong type, no field it
/// would drop and no value outside a known enum.
#[test]
fn the_example_renders_to_what_the_platform_decodes_cleanly() {
    let repo = TestRepo::example();
    for env in ["local", "staging", "prod"] {
        let out = format!("out-{env}");
        repo.run(&["render", "--env", env, "--out", &out]).success();
        for key in PROD_TENANTS {
            let tree = repo.json(&format!("{out}/{key}.json"));
            let decoded = promote_platform::model::decode(promote_platform::model::tenant(), &tree);
            assert!(decoded.is_clean(), "{env}/{key}: {decoded:#?}");
        }
    }
}

/// `PROMOTE_NO_CACHE=1` (the straight path: every file rendered as text and parsed, the
/// environment file read by serde_yaml) renders what the default path renders, with the
/// example's environment file as it is and rewritten in flow style with quoted and awkward
/// values (which the streaming reader reads) and with an anchor (which it leaves to serde_yaml).
#[test]
fn the_straight_path_renders_what_the_default_renders() {
    let repo = TestRepo::example();
    let original = repo.read("environments/prod.yaml");
    let flow = original.replace(
        "  locale: en-US\n",
        "  locale: 'en-US'\n  extra: { a: \"x\\ty\", b: [1, 0x1F, ~, yes, '007'], c: 1.50 }\n",
    );
    let anchored = original.replace("  locale: en-US\n", "  locale: &l en-US\n  again: *l\n");
    for text in [&original, &flow, &anchored] {
        repo.write("environments/prod.yaml", text);
        let default = repo.run(&["render", "--env", "prod"]);
        default.success();
        let straight = repo.run_env(&["render", "--env", "prod"], &[("PROMOTE_NO_CACHE", "1")]);
        straight.success();
        assert_eq!(default.stdout, straight.stdout, "{text}");
        let broken = format!("{text}  bad: [1, 2\n");
        repo.write("environments/prod.yaml", &broken);
        let a = repo.run(&["validate", "--env", "prod"]);
        let b = repo.run_env(&["validate", "--env", "prod"], &[("PROMOTE_NO_CACHE", "1")]);
        assert_ne!(a.code, 0);
        assert_eq!((a.code, &a.stderr), (b.code, &b.stderr));
    }
}

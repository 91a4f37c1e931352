//! `promote export`: live tenants → template directories that render back to what the platform
//! holds, with credentials only on request and never where a commit could take them, and IDs
//! from the platform never leaving the output directory.

use serde_json::{json, Value};

use crate::apply::{applied_example, LOCAL};
use crate::support::TestRepo;
use promote_platform::credentials::{self, Scope};
use promote_platform::material;

/// `promote export --env local --out OUT EXTRA...` in `repo`.
fn export(repo: &TestRepo, out: &str, extra: &[&str]) -> crate::support::Run {
    let mut args = vec!["export", "--env", "local", "--out", out];
    args.extend_from_slice(extra);
    repo.run(&args)
}

/// The example applied, then exported (`extra` flags) into `out` (relative to the repository).
fn exported(extra: &[&str], out: &str) -> TestRepo {
    let (repo, _) = applied_example();
    export(&repo, out, extra).success();
    repo
}

/// A repository whose templates are the export in `exported/` of `repo`: one template per
/// tenant key, environments as in `repo` minus their `template:` lines.
fn repository_of_export(repo: &TestRepo, exported: &str) -> TestRepo {
    let new = TestRepo::empty();
    copy_dir(&repo.join(exported), &new.join("templates"));
    copy_dir(
        &repo.join("templates/_shared"),
        &new.join("templates/_shared"),
    );
    let local = repo.read("environments/local.yaml");
    let local: String = local
        .lines()
        .filter(|l| !l.trim_start().starts_with("template:"))
        .map(|l| format!("{}\n", without_inline_template(l)))
        .collect();
    new.write("environments/local.yaml", &local);
    new
}

/// `  t1: { template: fleet, id: x }` → `  t1: { id: x }`.
fn without_inline_template(line: &str) -> String {
    let Some(start) = line.find("template: ") else {
        return line.to_owned();
    };
    let rest = &line[start..];
    let end = rest.find(", ").map(|i| i + 2).unwrap_or(rest.len());
    format!("{}{}", &line[..start], &rest[end..])
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    for entry in walkdir::WalkDir::new(from) {
        let entry = entry.unwrap();
        let target = to.join(entry.path().strip_prefix(from).unwrap());
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// What each tenant `(key, id)` holds on the platform, as an export without credentials shows
/// it (without the platform's own material, signing keys first), by key.
fn live_trees<K: AsRef<str>>(repo: &TestRepo, tenants: &[(K, K)]) -> Value {
    let mut out = serde_json::Map::new();
    for (key, tid) in tenants {
        let mut tree = repo.emulator_tenant(tid.as_ref());
        credentials::strip(&mut tree, Scope::Tenant);
        material::strip(&mut tree, Scope::Tenant);
        out.insert(key.as_ref().into(), tree);
    }
    Value::Object(out)
}

#[test]
fn an_export_renders_back_to_the_live_trees() {
    for flags in [&[][..], &["--templatize"][..]] {
        let repo = exported(flags, "exported");
        let from_export = repository_of_export(&repo, "exported");
        let rendered = from_export
            .run(&["render", "--env", "local"])
            .success()
            .stdout_json();
        assert_eq!(rendered, live_trees(&repo, &LOCAL), "flags {flags:?}");
    }
}

#[test]
fn an_export_with_literal_template_syntax_reads_back_as_the_live_tree() {
    let repo = exported(&[], "exported");
    let text = "Hello {{ user.name }}{% if x %} and {# this #} and {{ \"{{\" }}";
    repo.edit_emulator_tenant("globex-local", |t| t["metadata"]["greeting"] = json!(text));
    export(&repo, "exported", &[]).success();
    let written = repo.read("exported/globex/tenant.yaml");
    assert!(
        written.contains(r#"Hello {{ "{{" }} user.name }}"#),
        "{written}"
    );
    // A `dir:` baseline and `diff` read the export as the tree the platform holds.
    let live = &live_trees(&repo, &[("globex", "globex-local")])["globex"];
    assert_eq!(live["metadata"]["greeting"], text);
    repo.write("live.json", &live.to_string());
    repo.run(&[
        "diff",
        "exported/globex",
        "live.json",
        "--detailed-exitcode",
    ])
    .success();
}

#[test]
fn templatize_replaces_ids_and_variables_and_a_second_export_changes_nothing() {
    let repo = exported(&["--templatize"], "exported");
    let web = repo.read("exported/globex/workspaces/app/clients/web.yaml");
    assert!(
        web.contains("client_name: \"{{ vars.customer_name }} web app (local)\""),
        "{web}"
    );
    let script = std::fs::read_dir(repo.join("exported/acme/workspaces/workforce/scripts"))
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect::<String>();
    assert!(script.contains("{{ tenant.id }}"), "{script}");
    // Deterministic: exporting again writes nothing.
    export(&repo, "exported", &["--templatize"])
        .success()
        .stdout_contains("acme (acme-local)")
        .stdout_contains("unchanged");
}

#[test]
fn an_export_drops_volatile_fields_and_removes_files_of_objects_gone() {
    let repo = exported(&[], "exported");
    repo.edit_emulator_tenant("globex-local", |t| {
        t["created_at"] = json!("2026-11-23T00:00:00Z");
        t["servers"]["app"]["clients"]["web"]["updated_at"] = json!("2026-11-23T00:00:00Z");
        t["servers"]["app"]["clients"]
            .as_object_mut()
            .unwrap()
            .remove("app-backend");
    });
    export(&repo, "exported", &["--tenant", "globex"])
        .success()
        .stdout_contains("0 added, 0 changed, 1 removed");
    assert!(!repo
        .join("exported/globex/workspaces/app/clients/app-backend.yaml")
        .exists());
    assert!(!repo
        .read("exported/globex/tenant.yaml")
        .contains("created_at"));
}

#[test]
fn credentials_only_on_request_and_never_into_the_work_tree() {
    let (repo, _) = applied_example();
    let secret = repo.emulator_tenant("globex-local")["servers"]["app"]["clients"]["web"]
        .get("client_secret")
        .cloned();
    export(&repo, "exported", &[]).success();
    let all: String = walkdir::WalkDir::new(repo.join("exported"))
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(|e| std::fs::read_to_string(e.path()).unwrap())
        .collect();
    assert!(!all.contains("client_secret:"), "credentials were exported");

    export(&repo, "exported-secrets", &["--with-credentials"])
        .code(1)
        .stderr_contains("refusing to write credentials")
        .stderr_contains("--allow-secrets-in-repo");
    assert!(!repo.join("exported-secrets").exists());

    // A git-ignored directory is fine, and the files are the owner's only.
    export(
        &repo,
        ".promote/secrets",
        &["--with-credentials", "--tenant", "globex"],
    )
    .success();
    let tenant = repo.join(".promote/secrets/globex/tenant.yaml");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&tenant).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    if let Some(Value::String(s)) = secret {
        let web = repo.read(".promote/secrets/globex/workspaces/app/clients/web.yaml");
        assert!(web.contains(&s));
    }
}

#[test]
fn ids_from_the_platform_never_leave_the_output_directory() {
    let (repo, _) = applied_example();
    let evil = [
        "../../escaped",
        "a/b",
        ".git",
        "..",
        "tab\there",
        "nul\u{1}x",
    ];
    repo.edit_emulator_tenant("globex-local", |t| {
        for id in evil {
            t["servers"]["app"]["clients"][id] = json!({"client_name": id});
        }
    });
    export(&repo, "exported", &[]).success();
    let clients = repo.join("exported/globex/workspaces/app/clients");
    let mut names: Vec<String> = std::fs::read_dir(&clients)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    for expected in [
        "%2E.%2F..%2Fescaped.yaml",
        "a%2Fb.yaml",
        "%2Egit.yaml",
        "%2E..yaml",
        "tab%09here.yaml",
        "nul%01x.yaml",
    ] {
        assert!(
            names.contains(&expected.to_string()),
            "{expected} in {names:?}"
        );
    }
    assert!(!repo.join("escaped.yaml").exists() && !repo.join("../escaped.yaml").exists());
    // The export renders back to those IDs (validation refuses control characters in IDs, so
    // those two are left out).
    std::fs::remove_file(clients.join("tab%09here.yaml")).unwrap();
    std::fs::remove_file(clients.join("nul%01x.yaml")).unwrap();
    let from_export = repository_of_export(&repo, "exported");
    let rendered = from_export
        .run(&["render", "--env", "local", "--tenant", "globex"])
        .success()
        .stdout_json();
    for id in &evil[..4] {
        assert_eq!(
            rendered["globex"]["servers"]["app"]["clients"][id]["client_name"],
            *id
        );
    }
}

/// The generator of `examples/gen-repo.rs`, which `cargo test` builds beside the test binaries.
fn gen_repo() -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap();
    let debug = exe.parent().and_then(|deps| deps.parent()).unwrap();
    let path = debug
        .join("examples")
        .join(format!("gen-repo{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.exists(),
        "{} is missing: `cargo test` builds the examples",
        path.display()
    );
    path
}

/// A repository with a fleet of `tenants` tenants from the generator (not yet in git).
fn generated_fleet(tenants: usize) -> TestRepo {
    let repo = TestRepo::empty();
    let status = std::process::Command::new(gen_repo())
        .arg(repo.path())
        .args(["--tenants", &tenants.to_string()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    repo
}

/// The generated fleet is in the platform's own field names, types and enum values: a strict
/// validate finds neither an error nor a warning in any tenant of either environment (the
/// benchmarks measure a fleet the platform would take as written).
#[test]
fn a_generated_fleet_validates_strictly_without_a_warning() {
    let repo = generated_fleet(3);
    repo.git_init();
    repo.commit("a generated fleet");
    repo.run(&["validate", "--strict"])
        .success()
        .shows("6 tenant(s) in 2 environment(s): valid")
        .never_shows("warning")
        .never_shows("error");
}

#[test]
fn a_generated_fleet_round_trips_through_apply_and_templatized_export() {
    let repo = generated_fleet(5);
    let prod = repo.read("environments/prod.yaml");
    let local: String = prod
        .lines()
        .map(|l| {
            if l.starts_with("  url:") {
                "  emulator: .promote/emulator\n".to_string()
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    repo.write("environments/local.yaml", &local);
    repo.git_init();
    repo.commit("a generated fleet");
    repo.run(&["apply", "--env", "local", "--yes"]).success();
    export(&repo, "exported", &["--templatize"]).success();
    let from_export = repository_of_export(&repo, "exported");
    let rendered = from_export
        .run(&["render", "--env", "local"])
        .success()
        .stdout_json();
    let fleet: Vec<(String, String)> = (1..=5)
        .map(|n| (format!("t0000{n}"), format!("t0000{n}-prod")))
        .collect();
    assert_eq!(rendered, live_trees(&repo, &fleet));
    // Templated: the tenant ID and variables are expressions.
    let tenant = repo.read("exported/t00001/tenant.yaml");
    assert!(tenant.contains("{{ "), "{tenant}");
}

/// An export removes only files an earlier export wrote (its `.promote-export` list):
/// a `.git` directory, notes and anything else in the tenant's directory stay.
#[test]
fn an_export_removes_only_files_it_wrote() {
    let (repo, _) = applied_example();
    repo.write("exported/globex/.git/config", "[core]\n")
        .write("exported/globex/NOTES.md", "our notes\n")
        .write("exported/globex/workspaces/app/clients/notes.txt", "mine\n");
    export(&repo, "exported", &["--tenant", "globex"]).success();
    let manifest = repo.read("exported/globex/.promote-export");
    assert!(manifest.contains("  tenant.yaml\n"), "{manifest}");
    assert!(
        !manifest.contains("NOTES.md") && !manifest.contains(".git"),
        "{manifest}"
    );
    // An export again, with a client gone on the platform: that client's file goes, nothing else.
    repo.edit_emulator_tenant("globex-local", |t| {
        t["servers"]["app"]["clients"]
            .as_object_mut()
            .unwrap()
            .remove("app-backend");
    });
    export(&repo, "exported", &["--tenant", "globex"])
        .success()
        .stdout_contains("0 added, 0 changed, 1 removed");
    assert!(!repo
        .join("exported/globex/workspaces/app/clients/app-backend.yaml")
        .exists());
    assert_eq!(repo.read("exported/globex/.git/config"), "[core]\n");
    assert_eq!(repo.read("exported/globex/NOTES.md"), "our notes\n");
    assert_eq!(
        repo.read("exported/globex/workspaces/app/clients/notes.txt"),
        "mine\n"
    );
    // Without the files promote did not write, the directory reads back as the tenant: the
    // list of what it wrote is not part of the tree.
    repo.remove("exported/globex/.git")
        .remove("exported/globex/NOTES.md")
        .remove("exported/globex/workspaces/app/clients/notes.txt");
    repo.run(&[
        "diff",
        "exported/globex",
        "exported/globex",
        "--detailed-exitcode",
    ])
    .success();
}

/// Regression (production safety, findings 1 and 8): `export --templatize --out templates`
/// over hand-written templates turned variables back into literals and dropped `{% if %}`
/// blocks and secret() lines, and wrote the platform's signing keys. It refuses, naming the
/// files, and writes nothing; with --force it overwrites, and still writes no signing key.
#[test]
fn an_export_over_hand_written_templates_is_refused() {
    let (repo, _) = applied_example();
    let before = repo.read("templates/acme/tenant.yaml");
    let status = repo.git_status();
    export(&repo, "templates", &["--templatize", "--tenant", "acme"])
        .code(1)
        .stderr_contains("refusing to overwrite")
        .stderr_contains("tenant.yaml")
        .stderr_contains("--force");
    assert_eq!(repo.read("templates/acme/tenant.yaml"), before);
    assert_eq!(repo.git_status(), status);
    export(
        &repo,
        "templates",
        &["--templatize", "--tenant", "acme", "--force"],
    )
    .success();
    let tenant = repo.read("templates/acme/tenant.yaml");
    assert!(
        !tenant.contains("jwks") && !tenant.contains("kty"),
        "{tenant}"
    );
    assert!(!repo
        .read("templates/acme/workspaces/workforce/workspace.yaml")
        .contains("jwks"));
    repo.run(&["validate", "--env", "local"]).success();
}

/// A directory git ignores but where it tracks files (committed, then listed in
/// `.gitignore`) is not a place for credentials: the tracked files would be overwritten with
/// secrets and the next commit would take them.
#[test]
fn credentials_are_never_exported_into_a_tracked_directory_even_when_ignored() {
    let (repo, _) = applied_example();
    repo.write("exported/globex/tenant.yaml", "name: committed\n");
    repo.commit("an export, committed");
    repo.write(".gitignore", "exported/\n");
    export(&repo, "exported", &["--with-credentials"])
        .code(1)
        .stderr_contains("refusing to write credentials")
        .stderr_contains("git tracks exported/globex/tenant.yaml");
    assert_eq!(
        repo.read("exported/globex/tenant.yaml"),
        "name: committed\n"
    );
}

/// The SHA-1 of `text`, in hex, as export's manifest lists it.
fn sha1_hex(text: &str) -> String {
    use sha1::Digest as _;
    sha1::Sha1::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Lists `rel` in the manifest of `dir` with the digest of its present content, as a pull
/// request could: the line replaced if it is there, added if not.
fn forge_manifest_line(repo: &TestRepo, dir: &str, rel: &str) {
    let manifest_path = format!("{dir}/.promote-export");
    let line = format!("{}  {rel}", sha1_hex(&repo.read(&format!("{dir}/{rel}"))));
    let mut lines: Vec<String> = repo
        .read(&manifest_path)
        .lines()
        .filter(|l| !l.ends_with(&format!("  {rel}")))
        .map(str::to_owned)
        .collect();
    lines.push(line);
    repo.write(&manifest_path, &format!("{}\n", lines.join("\n")));
}

/// Regression (an attacker's follow-up to finding 8): the manifest is a file of the
/// repository, so a pull request could list a hand-written file with the digest of its
/// content, and export then deleted or overwrote it without --force. A listed digest proves
/// nothing: export replaces a file only when its content is also exactly in the form export
/// writes. A hand-written template (Tera syntax, a comment) is refused, naming it, with
/// nothing of the tenant written; a hand-written file no longer exported is kept.
#[test]
fn a_crafted_manifest_cannot_make_export_replace_or_remove_a_hand_written_file() {
    let (repo, _) = applied_example();
    let dir = "exported/globex";
    export(&repo, "exported", &["--tenant", "globex"]).success();
    // The attacker's reproduction: a hand-written file and a hand-edited template, both
    // listed with the digests of their content.
    repo.write(
        &format!("{dir}/handwritten.yaml"),
        "# my hand-written template, not from export\n",
    )
    .write(
        &format!("{dir}/tenant.yaml"),
        "name: {{ vars.customer_name }}\n# hand-edited\n",
    );
    forge_manifest_line(&repo, dir, "handwritten.yaml");
    forge_manifest_line(&repo, dir, "tenant.yaml");
    let web = format!("{dir}/workspaces/app/clients/web.yaml");
    let web_before = repo.read(&web);
    repo.edit_emulator_tenant("globex-local", |t| {
        t["name"] = json!("Globex renamed");
        t["servers"]["app"]["clients"]["web"]["client_name"] = json!("renamed on the platform");
    });
    export(&repo, "exported", &["--tenant", "globex"])
        .code(1)
        .stderr_contains("refusing to overwrite 1 file(s)")
        .stderr_contains("tenant.yaml")
        .stderr_contains("--force");
    assert_eq!(
        repo.read(&format!("{dir}/tenant.yaml")),
        "name: {{ vars.customer_name }}\n# hand-edited\n"
    );
    assert_eq!(
        repo.read(&web),
        web_before,
        "nothing of the tenant is written"
    );
    // Tera syntax alone (no comment), listed with its digest: refused too.
    repo.write(
        &format!("{dir}/tenant.yaml"),
        "name: {{ vars.customer_name }}\n",
    );
    forge_manifest_line(&repo, dir, "tenant.yaml");
    export(&repo, "exported", &["--tenant", "globex"])
        .code(1)
        .stderr_contains("tenant.yaml");
    // A comment added to an exported file, the digest updated: refused.
    export(&repo, "exported", &["--tenant", "globex", "--force"]).success();
    let exported_web = repo.read(&web);
    repo.edit_emulator_tenant("globex-local", |t| {
        t["servers"]["app"]["clients"]["web"]["client_name"] = json!("renamed again");
    });
    repo.write(&web, &format!("# why this client exists\n{exported_web}"));
    forge_manifest_line(&repo, dir, "workspaces/app/clients/web.yaml");
    export(&repo, "exported", &["--tenant", "globex"])
        .code(1)
        .stderr_contains("workspaces/app/clients/web.yaml");
    assert!(repo.read(&web).starts_with("# why this client exists\n"));
    // A hand-written file the platform does not have, listed with its digest (in a place
    // export writes, with a comment): kept and reported, never removed, --force or not.
    repo.write(&web, &exported_web);
    forge_manifest_line(&repo, dir, "workspaces/app/clients/web.yaml");
    let mine = format!("{dir}/workspaces/app/clients/mine.yaml");
    repo.write(&mine, "# ours\nclient_name: mine\n");
    for extra in [&[][..], &["--force"][..]] {
        // (A kept file leaves the manifest: listed again each time.)
        forge_manifest_line(&repo, dir, "workspaces/app/clients/mine.yaml");
        forge_manifest_line(&repo, dir, "handwritten.yaml");
        let mut args = vec!["--tenant", "globex"];
        args.extend_from_slice(extra);
        export(&repo, "exported", &args)
            .success()
            .stdout_contains("2 kept");
        assert_eq!(repo.read(&mine), "# ours\nclient_name: mine\n");
        assert!(repo.join(&format!("{dir}/handwritten.yaml")).is_file());
    }
}

/// The legitimate flow: export into the repository, commit, and from a fresh clone (no
/// per-clone key) export again after the platform changed: export replaces and removes its
/// own files without --force, plain or templatized.
#[test]
fn a_fresh_clone_re_exports_over_committed_exports_without_force() {
    for templatize in [false, true] {
        let (repo, _) = applied_example();
        let flags: &[&str] = if templatize { &["--templatize"] } else { &[] };
        export(&repo, "exported", flags).success();
        repo.commit("export");
        let clone = TestRepo::clone_of(&repo);
        crate::support::copy_dir(
            &repo.join(".promote/emulator"),
            &clone.join(".promote/emulator"),
        );
        clone.edit_emulator_tenant("globex-local", |t| {
            t["name"] = json!("Initech");
            t["servers"]["app"]["clients"]
                .as_object_mut()
                .unwrap()
                .remove("app-backend");
        });
        export(&clone, "exported", flags)
            .success()
            .stdout_contains("0 added, 1 changed, 1 removed");
        assert!(clone
            .read("exported/globex/tenant.yaml")
            .contains("Initech"));
        assert!(!clone
            .join("exported/globex/workspaces/app/clients/app-backend.yaml")
            .exists());
    }
}

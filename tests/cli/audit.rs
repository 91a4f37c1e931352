//! Credential audit: every command runs on a repository whose secrets are known marker strings,
//! against a platform whose own credentials (client secrets, signing keys, salts it generated)
//! are read back from its data; then stdout and stderr of every run (with debug logging), every
//! file written, every git object of the repository and the platform's request log are scanned
//! for all of them. Only the places meant to hold credentials may: the platform's own data,
//! backups and `export --with-credentials` output, and those must be owner-only and ignored by
//! git.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use serde_json::Value;

use crate::remote::{acme_env, run, secret_vars, CLIENT_ID, CLIENT_SECRET, SECRETS};
use crate::support::{Serve, TestRepo};

/// Where credentials are meant to be, relative to the repository: not scanned, but checked to
/// be owner-only and git-ignored.
const CREDENTIAL_STORES: [&str; 2] = [".promote/backups", ".promote/with-credentials"];

/// The platform's data (its own business, like a database), not promote's output.
const PLATFORM_DATA: &str = ".promote/platform";

/// Every credential value in the platform's data files: what it generated and what it was
/// given.
fn platform_credentials(repo: &TestRepo) -> Vec<String> {
    let mut out = Vec::new();
    let dir = repo.join(&format!("{PLATFORM_DATA}/tenants"));
    for entry in std::fs::read_dir(dir).unwrap() {
        let tree: Value =
            serde_json::from_str(&std::fs::read_to_string(entry.unwrap().path()).unwrap()).unwrap();
        promote_platform::credentials::for_each(
            &tree,
            promote_platform::credentials::Scope::Tenant,
            |_, v| collect(v, &mut out),
        );
    }
    out.sort();
    out.dedup();
    out
}

/// The strings of `v` long enough to be a credential and not a word.
fn collect(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) if s.len() >= 12 => out.push(s.clone()),
        Value::Array(items) => items.iter().for_each(|i| collect(i, out)),
        Value::Object(map) => map.values().for_each(|i| collect(i, out)),
        _ => {}
    }
}

/// The secret a text shows, if any.
fn shown<'a>(text: &[u8], secrets: &'a [String]) -> Option<&'a str> {
    secrets
        .iter()
        .find(|s| text.windows(s.len()).any(|w| w == s.as_bytes()))
        .map(String::as_str)
}

/// Every file under `dir`, but the credential stores and the platform's data (checked apart).
fn files(root: &Path, dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let rel = path
            .strip_prefix(root)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        if rel == ".git" || rel == PLATFORM_DATA || CREDENTIAL_STORES.contains(&rel.as_str()) {
            continue;
        }
        if path.is_dir() {
            files(root, &path, out);
        } else {
            out.push(path);
        }
    }
}

#[test]
fn no_command_leaks_a_credential_anywhere() {
    let (repo, _) = TestRepo::example_in_git();
    let tid = "acme-audit";
    let copy = "acme-copy";
    let data = repo.join(PLATFORM_DATA);
    let serve = Serve::start(
        &format!("{tid}:{CLIENT_ID}:{CLIENT_SECRET},{copy}:{CLIENT_ID}:{CLIENT_SECRET}"),
        &[
            "--data",
            data.to_str().unwrap(),
            "--fault",
            "500=0.1",
            "--seed",
            "5",
        ],
    );
    repo.write(
        "environments/remote.yaml",
        &acme_env(&repo, &serve.url, tid),
    );
    repo.write("environments/copy.yaml", &acme_env(&repo, &serve.url, copy));
    let head = repo.commit("an audited environment");
    let zero = "0000000000000000000000000000000000000000";

    let mut runs = Vec::new();
    let mut go = |args: &[&str]| {
        // Debug logging, and every library's log at trace level: every line promote and the
        // HTTP and TLS libraries can log is in the scan.
        let mut all = vec!["-vv"];
        all.extend_from_slice(args);
        let mut extra = secret_vars();
        extra.push(("PROMOTE_LOG", "trace"));
        let r = run(&repo, &all, CLIENT_SECRET, &extra);
        runs.push((args.join(" "), r.code, r.stdout.clone(), r.stderr.clone()));
        r
    };
    go(&["render", "--env", "remote", "--out", "rendered"]).success();
    go(&[
        "render",
        "--env",
        "remote",
        "--format",
        "yaml",
        "--out",
        "rendered-yaml",
    ])
    .success();
    go(&["validate"]).success();
    go(&["plan", "--env", "remote"]).success();
    go(&["apply", "--env", "remote", "--yes"]).success();
    go(&[
        "--output",
        "json",
        "apply",
        "--env",
        "remote",
        "--yes",
        "--rotate-secrets",
    ])
    .success();
    go(&["--output", "markdown", "plan", "--env", "remote"]).success();
    go(&["--output", "json", "plan", "--env", "remote"]).success();
    go(&["drift", "--env", "remote"]).success();
    go(&["--output", "json", "drift", "--env", "remote"]).success();
    go(&["export", "--env", "remote", "--out", "exported"]).success();
    go(&[
        "export",
        "--env",
        "remote",
        "--out",
        "templated",
        "--templatize",
    ])
    .success();
    go(&[
        "export",
        "--env",
        "remote",
        "--with-credentials",
        "--out",
        ".promote/with-credentials",
    ])
    .success();
    go(&["diff", "rendered/acme.json", "exported/acme"]);
    go(&[
        "diff",
        "--unredacted",
        "rendered/acme.json",
        "exported/acme",
    ]);
    go(&["backup", "--env", "remote"]).success();
    go(&["rollback", "--env", "remote", "--tenant", "acme", "--yes"]).success();
    go(&[
        "migrate",
        "--from",
        "remote:acme",
        "--to",
        "copy:acme",
        "--yes",
    ])
    .success();
    repo.edit(
        "templates/acme/workspaces/default/clients/storefront-spa.yaml",
        "description: React storefront at",
        "description: React shop at",
    );
    let next = repo.commit("a change");
    go(&[
        "ci",
        "--base",
        &head,
        "--head",
        &next,
        "--env",
        "remote",
        "--summary",
        "summary.md",
    ])
    .success();
    go(&[
        "--output", "json", "ci", "--base", &head, "--head", &next, "--env", "remote", "--apply",
        "--yes",
    ])
    .success();
    go(&[
        "ci", "--base", zero, "--head", &next, "--env", "copy", "--apply", "--yes",
    ])
    .success();
    // A saved plan that creates an object with a secret(): the file holds the marker, and
    // `apply --plan` sends the value.
    let hook = "templates/acme/workspaces/default/webhooks";
    repo.write(
        &format!("{hook}/crm-events-2.yaml"),
        &repo.read(&format!("{hook}/crm-events.yaml")),
    );
    repo.commit("a second webhook");
    go(&["plan", "--env", "remote", "--save", "audit.plan.json"]).success();
    go(&["apply", "--plan", "audit.plan.json", "--yes"]).success();
    assert!(repo
        .read("audit.plan.json")
        .contains("<secret:ACME_WEBHOOK_KEY>"));
    assert_eq!(runs.len(), 23, "every command ran");

    // Every credential there is: the client's secret, the values given to secret(), and what
    // the platform generated or was given, read from its data.
    use base64::Engine as _;
    let basic =
        base64::engine::general_purpose::STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}"));
    let mut secrets: Vec<String> = vec![CLIENT_SECRET.to_owned(), basic];
    secrets.extend(SECRETS.iter().map(|(_, v, _)| (*v).to_owned()));
    let generated = platform_credentials(&repo);
    assert!(
        generated.len() > 10,
        "the platform holds {} credentials",
        generated.len()
    );
    secrets.extend(generated);

    // 1. What each command printed.
    for (what, code, stdout, stderr) in &runs {
        for (stream, text) in [("stdout", stdout), ("stderr", stderr)] {
            if let Some(s) = shown(text.as_bytes(), &secrets) {
                panic!("`promote {what}` (exit {code}) shows {s:?} on {stream}");
            }
        }
    }
    // 2. The platform's request log.
    if let Some(s) = shown(serve.log().as_bytes(), &secrets) {
        panic!("the platform's log shows {s:?}");
    }
    // 3. Every file written, but where credentials are meant to be.
    let mut written = Vec::new();
    files(repo.path(), repo.path(), &mut written);
    assert!(
        written.len() > 100,
        "only {} files were written",
        written.len()
    );
    for path in &written {
        let bytes = std::fs::read(path).unwrap();
        if let Some(s) = shown(&bytes, &secrets) {
            panic!("{} holds {s:?}", path.display());
        }
    }
    // 4. Every object of the repository's object database: commits, trees and blobs of the
    //    configuration, refs/promote/state and backups/remote.
    let git = git2::Repository::open(repo.path()).unwrap();
    let odb = git.odb().unwrap();
    let mut ids = Vec::new();
    odb.foreach(|id| {
        ids.push(*id);
        true
    })
    .unwrap();
    assert!(ids.len() > 200, "only {} objects", ids.len());
    for id in ids {
        let object = odb.read(id).unwrap();
        if let Some(s) = shown(object.data(), &secrets) {
            let text = String::from_utf8_lossy(object.data());
            let at = text.find(s).unwrap_or(0);
            panic!(
                "git object {id} ({:?}) holds {s:?}: …{}…",
                object.kind(),
                &text[at.saturating_sub(300)..(at + s.len() + 50).min(text.len())]
            );
        }
    }
    for r in ["refs/promote/state", "refs/heads/backups/remote"] {
        assert!(git.find_reference(r).is_ok(), "{r} was written");
    }
    // 5. Where credentials are meant to be: owner-only files, ignored by git.
    for store in CREDENTIAL_STORES {
        let mut inside = Vec::new();
        files(&repo.join(store), &repo.join(store), &mut inside);
        assert!(!inside.is_empty(), "{store} is empty");
        for path in inside {
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{} is mode {mode:o}", path.display());
            let rel = path.strip_prefix(repo.path()).unwrap();
            assert!(
                git.is_path_ignored(rel).unwrap(),
                "{} is not git-ignored",
                rel.display()
            );
        }
    }
}

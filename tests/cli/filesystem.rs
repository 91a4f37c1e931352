//! The file system and git on behalf of an untrusted repository (in CI, whatever a pull request
//! committed): symlinks into `.git/` and `.promote/`, a `.promote` that is a symlink or that git
//! tracks, "ignored" files that git tracks, a secrets file that is a device or a FIFO, two
//! emulators on one data directory, and IDs too long to be file names.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::apply::applied_example;
use crate::support::{Run, Serve, TestRepo};

/// A credential helper's token in `.git/config`: never read into a template.
const GIT_TOKEN: &str = "ghp_gitconfig0token0SHOULD0NEVER0SHOW";
/// A client secret in the embedded emulator's data: never read into a template.
const EMULATOR_SECRET: &str = "emulator-client-secret-SHOULD-NEVER-SHOW";
/// The script sidecar of the base repository.
const SCRIPT: &str = "templates/t/workspaces/w/scripts/s.js";

/// Template `t` with workspace `w` and script `s` (its body in [`SCRIPT`]), environment `prod`.
fn base() -> TestRepo {
    let repo = TestRepo::empty();
    repo.write("templates/t/tenant.yaml", "name: t\n")
        .write("templates/t/workspaces/w/workspace.yaml", "name: w\n")
        .write("templates/t/workspaces/w/scripts/s.yaml", "name: s\n")
        .write(SCRIPT, "function f() { return 1; }\n")
        .write(
            "environments/prod.yaml",
            "target:\n  url: https://t.example.test\n",
        );
    repo
}

/// `promote apply --env local` (the embedded emulator in `.promote/emulator`).
fn apply_local(repo: &TestRepo) -> Run {
    repo.run(&["apply", "--env", "local", "--yes"])
}

/// Replaces the file `rel` of `repo` by a symlink to `target`.
#[cfg(unix)]
fn link(repo: &TestRepo, rel: &str, target: &str) {
    let path = repo.join(rel);
    let _ = std::fs::remove_file(&path);
    std::os::unix::fs::symlink(target, path).unwrap();
}

/// Commits the work tree on HEAD and, beside it, `extra` paths the harness never stages
/// (`.promote/...`): what a pull request could commit.
fn commit_with(repo: &TestRepo, extra: &[&str]) {
    repo.stage();
    let git = git2::Repository::open(repo.path()).unwrap();
    let mut index = git.index().unwrap();
    for path in extra {
        index.add_path(Path::new(path)).unwrap();
    }
    index.write().unwrap();
    let tree = git.find_tree(index.write_tree().unwrap()).unwrap();
    let parent = git.head().ok().and_then(|h| h.peel_to_commit().ok());
    let signature = git2::Signature::new(
        "promote tests",
        "tests@promote.invalid",
        &git2::Time::new(1_700_000_000, 0),
    )
    .unwrap();
    let parents: Vec<&git2::Commit> = parent.iter().collect();
    git.commit(
        Some("HEAD"),
        &signature,
        &signature,
        "committed",
        &tree,
        &parents,
    )
    .unwrap();
}

/// A sidecar or an environment file that links into `.git/` (a credential helper's
/// token) or `.promote/` (the emulator's client secrets) is refused, directly or through a
/// symlinked directory on the way, and what it points at never reaches the output.
#[cfg(unix)]
#[test]
fn template_and_environment_symlinks_into_git_or_promote_are_refused() {
    let repo = base();
    repo.git_init();
    let git = git2::Repository::open(repo.path()).unwrap();
    git.config()
        .unwrap()
        .set_str("credential.helper", &format!("!echo password={GIT_TOKEN}"))
        .unwrap();
    assert!(repo.read(".git/config").contains(GIT_TOKEN));
    repo.write(
        ".promote/emulator/tenants/t.json",
        &json!({"client_secret": EMULATOR_SECRET}).to_string(),
    );
    for (target, hidden, secret) in [
        ("../../../../../.git/config", ".git", GIT_TOKEN),
        (
            "../../../../../.promote/emulator/tenants/t.json",
            ".promote",
            EMULATOR_SECRET,
        ),
    ] {
        link(&repo, SCRIPT, target);
        for args in [&["render", "--env", "prod"][..], &["validate"]] {
            repo.run(args)
                .code(1)
                .stderr_contains(&format!("{SCRIPT}: symlink into {hidden}/"))
                .never_shows(secret);
        }
    }
    // Through a symlinked directory on the way: where the link really ends counts.
    std::os::unix::fs::symlink(".git", repo.join("gitdir")).unwrap();
    link(&repo, SCRIPT, "../../../../../gitdir/config");
    repo.run(&["render", "--env", "prod"])
        .code(1)
        .stderr_contains(&format!("{SCRIPT}: symlink into .git/"))
        .never_shows(GIT_TOKEN);
    // An environment file that links into .promote/.
    repo.remove(SCRIPT)
        .write(SCRIPT, "function f() { return 1; }\n");
    repo.run(&["render", "--env", "prod"]).success();
    std::os::unix::fs::symlink(
        "../.promote/emulator/tenants/t.json",
        repo.join("environments/leak.yaml"),
    )
    .unwrap();
    repo.run(&["validate"])
        .code(1)
        .stderr_contains("environments/leak.yaml: symlink into .promote/")
        .never_shows(EMULATOR_SECRET);
    // A templates/ directory that is itself a symlink (into a hidden directory) is not followed.
    let repo = base();
    std::fs::rename(repo.join("templates"), repo.join(".hidden")).unwrap();
    std::os::unix::fs::symlink(".hidden", repo.join("templates")).unwrap();
    repo.run(&["render", "--env", "prod"])
        .code(1)
        .stderr_contains("templates: symlinked directories are not followed");
}

/// At a git revision (`plan --against rev:`, `ci`): a symlink committed into a hidden
/// directory is refused as in the work tree, and its target is never read.
#[cfg(unix)]
#[test]
fn symlinks_committed_into_hidden_directories_are_refused_at_a_revision() {
    let repo = base();
    repo.git_init();
    repo.write(".hidden/token.txt", &format!("{GIT_TOKEN}\n"));
    link(&repo, SCRIPT, "../../../../../.hidden/token.txt");
    repo.commit("a script that links into a hidden directory");
    repo.remove(SCRIPT)
        .write(SCRIPT, "function f() { return 1; }\n");
    repo.run(&["plan", "--env", "prod", "--against", "rev:HEAD"])
        .code(1)
        .stderr_contains(&format!("{SCRIPT}@HEAD: symlink into .hidden/"))
        .never_shows(GIT_TOKEN);
}

/// A `.promote` that is a symlink would move backups and emulator data (credentials)
/// out of the repository: refused, and nothing is written where it points.
#[cfg(unix)]
#[test]
fn a_promote_directory_that_is_a_symlink_is_refused() {
    let (repo, _) = TestRepo::example_in_git();
    let outside = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(outside.path(), repo.join(".promote")).unwrap();
    commit_with(&repo, &[".promote"]);
    apply_local(&repo)
        .code(1)
        .stderr_contains("refusing to use .promote: it is a symlink");
    assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 0);
    assert!(repo.state_commits().is_empty());
}

/// A committed `.promote/.gitignore` of `!*` would un-ignore the backups: a `.promote`
/// that holds anything git tracks is refused, with what to do, and no credential is written.
#[test]
fn a_tracked_promote_directory_is_refused_and_its_gitignore_not_trusted() {
    let (repo, _) = TestRepo::example_in_git();
    repo.write(".promote/.gitignore", "!*\n");
    commit_with(&repo, &[".promote/.gitignore"]);
    apply_local(&repo)
        .code(1)
        .stderr_contains("git tracks .promote/.gitignore")
        .stderr_contains("git rm -r --cached .promote");
    assert!(!repo.join(".promote/emulator").exists());
    assert!(!repo.join(".promote/backups").exists());
    assert_eq!(repo.read(".promote/.gitignore"), "!*\n");
    repo.run(&[
        "export",
        "--env",
        "local",
        "--out",
        ".promote/secrets",
        "--with-credentials",
    ])
    .code(1);
    assert!(!repo.join(".promote/secrets").exists());
}

/// A secrets file committed and later listed in `.gitignore` is still tracked (the next
/// commit takes its changes): refused before anything is sent.
#[test]
fn a_tracked_secrets_file_is_refused_even_when_gitignore_lists_it() {
    let (repo, _) = TestRepo::example_in_git();
    repo.write(
        "secrets.yaml",
        "ACME_GOOGLE_SECRET: \"google-SHOULD-NEVER-SHOW\"\n",
    );
    repo.commit("secrets, by mistake");
    repo.write(".gitignore", "secrets.yaml\n");
    let path = repo.join("secrets.yaml");
    let run = repo.run_env(
        &["apply", "--env", "local", "--yes"],
        &[("PROMOTE_SECRETS_FILE", path.to_str().unwrap())],
    );
    run.code(1)
        .stderr_contains("refusing to read secrets from")
        .stderr_contains("git tracks secrets.yaml")
        .never_shows("google-SHOULD-NEVER-SHOW");
    assert!(repo.state_commits().is_empty());
}

/// `/dev/zero` would be read until memory runs out, a FIFO would hang the run, a huge
/// file would fill memory: only a regular file of at most 1 MiB is read, and the message says
/// so.
#[cfg(unix)]
#[test]
fn a_secrets_file_that_is_not_a_small_regular_file_is_refused_at_once() {
    let (repo, _) = TestRepo::example_in_git();
    let apply_with = |file: &Path| {
        repo.run_env(
            &["apply", "--env", "local", "--yes"],
            &[("PROMOTE_SECRETS_FILE", file.to_str().unwrap())],
        )
    };
    apply_with(Path::new("/dev/zero"))
        .code(1)
        .stderr_contains("it is a character device, not a regular file");
    let vault = tempfile::tempdir().unwrap();
    let big = vault.path().join("big.yaml");
    std::fs::write(&big, format!("A: \"{}\"\n", "x".repeat(2 << 20))).unwrap();
    apply_with(&big)
        .code(1)
        .stderr_contains("promote reads files of at most 1 MiB");
    let fifo = vault.path().join("fifo");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status();
    if made.is_ok_and(|s| s.success()) {
        // Should promote wait on the FIFO, a writer comes after a while, so that the test
        // fails rather than hangs.
        let writer = fifo.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_secs(60));
            let _ = std::fs::OpenOptions::new().write(true).open(writer);
        });
        let started = Instant::now();
        apply_with(&fifo)
            .code(1)
            .stderr_contains("it is a FIFO, not a regular file");
        assert!(started.elapsed() < Duration::from_secs(60));
    }
    assert!(repo.state_commits().is_empty());
}

/// Waits for `child` to exit, at most `limit`; kills it and fails otherwise.
fn exit_of(mut child: std::process::Child, limit: Duration) -> std::process::Output {
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > limit {
            let _ = child.kill();
            panic!("still running after {limit:?}: the data directory was not locked");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

/// While `promote serve --data DIR` runs, a second server on DIR and a command whose
/// embedded emulator uses DIR are refused with the directory named, and exit 1: two emulators
/// on one directory would lose acknowledged writes.
#[test]
fn a_second_emulator_on_one_data_directory_is_refused() {
    let (repo, _) = applied_example();
    let data = repo.join(".promote/emulator");
    let serve = Serve::start("acme-local:ci:SECRET", &["--data", data.to_str().unwrap()]);
    apply_local(&repo)
        .code(1)
        .stderr_contains("is in use by another emulator")
        .stderr_contains(".promote/emulator");
    let second = std::process::Command::new(env!("CARGO_BIN_EXE_promote"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(&data)
        .env("PROMOTE_SERVE_CLIENTS", "acme-local:ci:SECRET")
        .env("NO_COLOR", "1")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let out = exit_of(second, Duration::from_secs(30));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("is in use by another emulator"), "{stderr}");
    assert!(stderr.contains(data.to_str().unwrap()), "{stderr}");
    assert!(!stderr.contains("listening"), "{stderr}");
    // Once the server is gone, the directory is free again.
    drop(serve);
    apply_local(&repo).success();
}

/// An ID whose file name would be longer than file systems take (255 bytes; here 30
/// three-byte characters: 270 bytes once percent-encoded, 275 with `.yaml`) is refused, naming
/// the ID, by export and by backup alike; backup commits nothing.
#[test]
fn ids_too_long_for_a_file_name_are_refused_by_export_and_backup() {
    let (repo, _) = applied_example();
    let long = "€".repeat(30);
    repo.edit_emulator_tenant("globex-local", |t| {
        t["servers"]["app"]["clients"][&long] = json!({"client_name": "long"});
    });
    let named = format!("the ID `{long}` makes a file name of 275 bytes");
    repo.run(&[
        "export", "--env", "local", "--out", "exported", "--tenant", "globex",
    ])
    .code(1)
    .shows(&named)
    .shows("at most 255 bytes");
    repo.run(&["backup", "--env", "local"])
        .code(1)
        .shows(&named)
        .stderr_contains("nothing was committed");
    let git = git2::Repository::open(repo.path()).unwrap();
    assert!(git.find_reference("refs/heads/backups/local").is_err());
    // 20 of them (180 bytes, 185 with `.yaml`) fit.
    repo.edit_emulator_tenant("globex-local", |t| {
        let clients = t["servers"]["app"]["clients"].as_object_mut().unwrap();
        clients.remove(&long);
        clients.insert("€".repeat(20), json!({"client_name": "fits"}));
    });
    repo.run(&["backup", "--env", "local"]).success();
}

/// An emulator data directory named by an absolute path, or through a committed link, that ends
/// up inside the repository but outside `.promote/` (here in `.git/`) is refused before the
/// emulator writes its secrets there.
#[test]
fn an_emulator_directory_that_resolves_into_the_repository_must_be_under_promote() {
    let repo = TestRepo::example();
    repo.git_init();
    std::os::unix::fs::symlink(".git", repo.join("gitlink")).unwrap();
    let local = repo.read("environments/local.yaml");
    let root = repo.path().canonicalize().unwrap();
    for (dir, shown) in [
        (root.join(".git").display().to_string(), ".git"),
        (root.join("gitlink/emu").display().to_string(), ".git/emu"),
        (root.join("templates").display().to_string(), "templates"),
    ] {
        repo.write(
            "environments/t.yaml",
            &local.replace("emulator: .promote/emulator", &format!("emulator: {dir}")),
        );
        repo.run(&["apply", "--env", "t", "--tenant", "globex", "--yes"])
            .code(1)
            .stderr_contains(&format!(
                "is {shown} in the repository, not under .promote/"
            ));
    }
    assert!(!repo.join(".git/tenants").exists() && !repo.join(".git/emu").exists());
    assert!(!repo.join(".git/.lock").exists());
}

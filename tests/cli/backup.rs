//! `promote backup`: one commit per run on `backups/<env>`, written without a checkout, only
//! when something changed, never half, never with a credential in it.

use serde_json::{json, Value};

use crate::apply::{applied_example, LOCAL};
use crate::remote::{run, saas_env, CLIENT_ID, CLIENT_SECRET};
use crate::support::{strings, Serve, TestRepo};

const BRANCH: &str = "refs/heads/backups/local";

fn git(repo: &TestRepo) -> git2::Repository {
    git2::Repository::open(repo.path()).unwrap()
}

/// The commits of the backup branch, newest first: (summary line, whole message).
fn backups(repo: &TestRepo) -> Vec<(String, String)> {
    let git = git(repo);
    let Ok(r) = git.find_reference(BRANCH) else {
        return Vec::new();
    };
    let mut walk = git.revwalk().unwrap();
    walk.push(r.target().unwrap()).unwrap();
    walk.map(|id| {
        let c = git.find_commit(id.unwrap()).unwrap();
        (
            c.summary().unwrap().unwrap().to_owned(),
            c.message().unwrap().to_owned(),
        )
    })
    .collect()
}

/// The text of `path` in the branch's last commit.
fn backed_up(repo: &TestRepo, path: &str) -> Option<String> {
    let git = git(repo);
    let tree = git.find_reference(BRANCH).ok()?.peel_to_tree().ok()?;
    let entry = tree.get_path(std::path::Path::new(path)).ok()?;
    let blob = git.find_blob(entry.id()).ok()?;
    Some(String::from_utf8(blob.content().to_vec()).unwrap())
}

#[test]
fn a_second_backup_without_changes_makes_no_commit_and_the_work_tree_is_untouched() {
    let (repo, head) = applied_example();
    let status_before = repo.git_status();
    repo.run(&["backup", "--env", "local"])
        .success()
        .stdout_contains("committed")
        .stdout_contains("4 tenant(s) changed");
    repo.run(&["backup", "--env", "local"])
        .success()
        .stdout_contains("nothing changed in 4 tenant(s): no commit on backups/local");
    assert_eq!(backups(&repo).len(), 1);
    // HEAD, the index and the work tree are as they were.
    assert_eq!(
        git(&repo).head().unwrap().target().unwrap().to_string(),
        head
    );
    assert_eq!(repo.git_status(), status_before);
    assert!(backed_up(&repo, "acme/tenant.yaml").is_some());
    assert!(backed_up(&repo, "globex/workspaces/app/clients/web.yaml").is_some());
}

#[test]
fn a_change_on_the_platform_commits_exactly_that_file_and_says_so() {
    let (repo, _) = applied_example();
    repo.run(&["backup", "--env", "local"]).success();
    repo.edit_emulator_tenant("globex-local", |t| {
        t["servers"]["app"]["clients"]["web"]["description"] = json!("edited in the console");
    });
    repo.run(&["backup", "--env", "local"])
        .success()
        .stdout_contains("globex (globex-local): 0 added, 1 changed, 0 removed");
    let commits = backups(&repo);
    assert_eq!(commits.len(), 2);
    let (summary, message) = &commits[0];
    assert_eq!(summary, "backup local: 1 tenant(s) changed, 3 unchanged");
    assert!(
        message.contains(
            "globex (globex-local): 0 added, 1 changed, 0 removed\n  ~ workspaces/app/clients/web.yaml\n"
        ),
        "{message}"
    );
    assert!(backed_up(&repo, "globex/workspaces/app/clients/web.yaml")
        .unwrap()
        .contains("edited in the console"));
    // Exactly one file differs between the two commits.
    let git = git(&repo);
    let new = git
        .find_reference(BRANCH)
        .unwrap()
        .peel_to_commit()
        .unwrap();
    let old = new.parent(0).unwrap();
    let diff = git
        .diff_tree_to_tree(Some(&old.tree().unwrap()), Some(&new.tree().unwrap()), None)
        .unwrap();
    assert_eq!(diff.deltas().len(), 1);
}

#[test]
fn a_failing_tenant_means_no_commit_unless_partial() {
    let (repo, _) = TestRepo::example_in_git();
    let data = repo.join(".platform");
    let data = data.to_str().unwrap();
    let both = format!(
        "globex-remote:{CLIENT_ID}:{CLIENT_SECRET},initech-remote:{CLIENT_ID}:{CLIENT_SECRET}"
    );
    let tenants = [
        ("globex".to_string(), "globex-remote".to_string()),
        ("initech".to_string(), "initech-remote".to_string()),
    ];
    let remote = |args: &[&str]| run(&repo, args, CLIENT_SECRET, &[]);
    {
        let serve = Serve::start(&both, &["--data", data]);
        repo.write("environments/remote.yaml", &saas_env(&serve.url, &tenants));
        remote(&["apply", "--env", "remote", "--yes"]).success();
        remote(&["backup", "--env", "remote"]).success();
    }
    // The platform no longer lets promote read initech (401); globex changes.
    let serve = Serve::start(
        &format!("globex-remote:{CLIENT_ID}:{CLIENT_SECRET}"),
        &["--data", data],
    );
    repo.write("environments/remote.yaml", &saas_env(&serve.url, &tenants));
    repo.edit("templates/saas/tenant.yaml", "name: ", "name: Renamed ");
    remote(&["apply", "--env", "remote", "--yes", "--tenant", "globex"]).success();
    let branch = "refs/heads/backups/remote";
    let commits = |repo: &TestRepo| {
        let git = git(repo);
        let mut walk = git.revwalk().unwrap();
        walk.push(git.refname_to_id(branch).unwrap()).unwrap();
        walk.map(|id| {
            git.find_commit(id.unwrap())
                .unwrap()
                .message()
                .unwrap()
                .to_owned()
        })
        .collect::<Vec<_>>()
    };
    remote(&["backup", "--env", "remote"])
        .code(1)
        .stderr_contains("initech")
        .stderr_contains("nothing was committed");
    assert_eq!(commits(&repo).len(), 1);

    remote(&["backup", "--env", "remote", "--partial"])
        .code(1)
        .stdout_contains("1 missing");
    let messages = commits(&repo);
    assert_eq!(messages.len(), 2);
    assert!(
        messages[0].contains(
            "Missing (could not be exported; their last backup is kept): initech (initech-remote)"
        ),
        "{}",
        messages[0]
    );
    let git = git(&repo);
    let tree = git.find_reference(branch).unwrap().peel_to_tree().unwrap();
    let text = |path: &str| {
        let entry = tree.get_path(std::path::Path::new(path)).unwrap();
        String::from_utf8(git.find_blob(entry.id()).unwrap().content().to_vec()).unwrap()
    };
    assert!(text("globex/tenant.yaml").contains("name: Renamed"));
    assert!(!text("initech/tenant.yaml").contains("name: Renamed"));
}

#[test]
fn no_credential_reaches_the_object_database() {
    let (repo, _) = applied_example();
    repo.run(&["backup", "--env", "local"]).success();
    // Every credential the platform holds (it generated them: signing keys, client secrets).
    let mut secrets = Vec::new();
    for (_, tid) in LOCAL {
        let tree: Value = repo.emulator_tenant(tid);
        promote_platform::credentials::for_each(
            &tree,
            promote_platform::credentials::Scope::Tenant,
            |_, v| {
                for (_, s) in strings(v) {
                    if s.len() >= 8 {
                        secrets.push(s.to_owned());
                    }
                }
                if let Value::String(s) = v {
                    if s.len() >= 8 {
                        secrets.push(s.clone());
                    }
                }
            },
        );
    }
    assert!(secrets.len() > 10, "{} secrets found", secrets.len());
    let git = git(&repo);
    let odb = git.odb().unwrap();
    let mut blobs = 0;
    odb.foreach(|id| {
        let object = odb.read(*id).unwrap();
        let text = String::from_utf8_lossy(object.data());
        for s in &secrets {
            assert!(!text.contains(s.as_str()), "a credential is in object {id}");
        }
        blobs += 1;
        true
    })
    .unwrap();
    assert!(blobs > 100);
}

#[test]
fn push_sends_the_branch_to_a_remote() {
    let (repo, _) = applied_example();
    let remote = tempfile::tempdir().unwrap();
    git2::Repository::init_bare(remote.path()).unwrap();
    let url = remote.path().to_str().unwrap();
    repo.run(&["backup", "--env", "local", "--push", url])
        .success()
        .stderr_contains("pushed backups/local");
    let bare = git2::Repository::open_bare(remote.path()).unwrap();
    let ours = git(&repo).refname_to_id(BRANCH).unwrap();
    assert_eq!(bare.refname_to_id(BRANCH).unwrap(), ours);
}

#[test]
fn a_checked_out_backup_branch_is_refused() {
    let (repo, _) = applied_example();
    let git = git(&repo);
    git.set_head(BRANCH).unwrap();
    repo.run(&["backup", "--env", "local"])
        .code(1)
        .stderr_contains("is checked out here");
    assert!(backups(&repo).is_empty());
}

#[test]
fn the_author_comes_from_promote_git_author() {
    let (repo, _) = applied_example();
    repo.run_env(
        &["backup", "--env", "local"],
        &[("PROMOTE_GIT_AUTHOR", "Nightly Backup <ops@example.com>")],
    )
    .success();
    let git = git(&repo);
    let c = git
        .find_reference(BRANCH)
        .unwrap()
        .peel_to_commit()
        .unwrap();
    assert_eq!(c.author().name().unwrap(), "Nightly Backup");
    assert_eq!(c.author().email().unwrap(), "ops@example.com");
}

/// A backup branch checked out in a linked work tree (`git worktree add`) is refused
/// like one checked out in the main work tree: moving it would leave that work tree behind.
#[test]
fn a_backup_branch_checked_out_in_another_worktree_is_refused() {
    let (repo, _) = applied_example();
    let git = git(&repo);
    let head = git.head().unwrap().peel_to_commit().unwrap();
    let branch = git.branch("backups/local", &head, false).unwrap();
    let mut options = git2::WorktreeAddOptions::new();
    options.reference(Some(branch.get()));
    let elsewhere = tempfile::tempdir().unwrap();
    let linked = elsewhere.path().join("backups-worktree");
    git.worktree("backups-worktree", &linked, Some(&options))
        .unwrap();
    repo.run(&["backup", "--env", "local"])
        .code(1)
        .stderr_contains("the branch `backups/local` is checked out in the work tree")
        .stderr_contains("backups-worktree");
    assert_eq!(git.refname_to_id(BRANCH).unwrap(), head.id());
}

/// `--branch` takes only names git takes for a branch: `HEAD` (which would make
/// `refs/heads/HEAD`, after which plain git commands fail), names starting with `-`, and what
/// `git check-ref-format --branch` refuses.
#[test]
fn invalid_backup_branch_names_are_refused_and_no_ref_is_made() {
    let (repo, _) = applied_example();
    let refs = |repo: &TestRepo| -> Vec<String> {
        let git = git(repo);
        let mut names: Vec<String> = git
            .references()
            .unwrap()
            .map(|r| r.unwrap().name().unwrap().to_owned())
            .collect();
        names.sort();
        names
    };
    let before = refs(&repo);
    for bad in [
        "HEAD",
        "@",
        "-f",
        "a..b",
        "x.lock",
        "with space",
        "a:b",
        "/lead",
    ] {
        repo.run(&["backup", "--env", "local", &format!("--branch={bad}")])
            .code(1)
            .stderr_contains(&format!("`{bad}` is not a valid branch name"));
    }
    assert!(git(&repo).find_reference("refs/heads/HEAD").is_err());
    assert_eq!(refs(&repo), before, "no ref was made");
}

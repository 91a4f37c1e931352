//! The environment lock: a command that writes to an environment holds its lock from its
//! first read to its last record; a second run waits for it or fails naming the holder, and
//! every write of both is recorded. `promote unlock` breaks a lock a dead run left.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::json;

use crate::apply::{
    applied_example, apply, data_bytes, plan, SAAS_WEB, SAAS_WEB_DESCRIPTION,
    SAAS_WEB_DESCRIPTION_NEW,
};
use crate::support::{report_tenant, TestRepo};

/// Where the lock of `local` is: in the git directory, never in the work tree.
const LOCK: &str = ".git/promote/locks/local.lock";

/// A rollback of `local`'s globex that waits for no lock.
const ROLLBACK: [&str; 10] = [
    "rollback",
    "--env",
    "local",
    "--tenant",
    "globex",
    "--yes",
    "--allow-delete",
    "--force",
    "--lock-timeout",
    "0s",
];

fn host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap()
        .trim()
        .to_owned()
}

/// A lock record of a run `promote apply` as process `pid` of `host`.
fn holder(host: &str, pid: u32) -> String {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        - 125;
    json!({"id": "other-run", "host": host, "pid": pid, "user": "alice", "command": "apply",
           "commit": "0123456789abcdef0123", "since": since})
    .to_string()
}

#[test]
fn a_held_lock_stops_apply_and_names_its_holder() {
    let (repo, _) = applied_example();
    repo.edit(SAAS_WEB, SAAS_WEB_DESCRIPTION, SAAS_WEB_DESCRIPTION_NEW);
    // A run on this host that is still running (this test's own process).
    repo.write(LOCK, &holder(&host(), std::process::id()));
    let before = data_bytes(&repo);
    let run = repo.run(&["apply", "--env", "local", "--yes", "--lock-timeout", "0"]);
    run.code(1)
        .stderr_contains("environment `local` is locked in this repository by `promote apply`")
        .stderr_contains(&format!("alice on {}, pid {}", host(), std::process::id()))
        .stderr_contains("commit 0123456789")
        // 125 s before the run started; a loaded machine may take a second or two to get there.
        .stderr_contains("(2m0")
        .stderr_contains("s ago)")
        .stderr_contains("promote unlock --env local");
    assert_eq!(data_bytes(&repo), before, "nothing was written");
    let commits = repo.state_commits();
    assert_eq!(commits.len(), 1, "nothing was recorded");
    // A dry run writes nothing and takes no lock.
    apply(&repo, &["--dry-run"]).0.success();
    // unlock refuses a holder that is still running here, unless forced.
    repo.run(&["unlock", "--env", "local"])
        .code(1)
        .stderr_contains("still running on this host")
        .stderr_contains("--force");
    repo.run(&["unlock", "--env", "local", "--force"])
        .success()
        .stdout_contains("broke the lock of `local` in this repository, held by `promote apply`");
    assert!(!repo.join(LOCK).exists());
    repo.run(&["unlock", "--env", "local"])
        .success()
        .stderr_contains("environment `local` is not locked");

    // A holder whose process is gone from this host (killed): its lock is taken over, saying so.
    repo.write(LOCK, &holder(&host(), u32::MAX - 1));
    repo.run(&ROLLBACK)
        .success()
        .stderr_contains("the lock of `local` was held by `promote apply` (alice on")
        .stderr_contains("whose process is gone from this host: taken over");
    assert!(!repo.join(LOCK).exists(), "released after the rollback");
    apply(&repo, &[]).0.success();
    assert_eq!(repo.state_commits().len(), 2);
    assert!(!repo.join(LOCK).exists(), "released after the apply");
}

/// A run that finds the lock taken waits (saying for whom) and goes on once it is released.
#[test]
fn a_second_run_waits_for_the_lock() {
    let (repo, _) = TestRepo::example_in_git();
    repo.edit(SAAS_WEB, SAAS_WEB_DESCRIPTION, SAAS_WEB_DESCRIPTION_NEW);
    repo.write(LOCK, &holder("ci-runner-7", 4242));
    let lock = repo.join(LOCK);
    let releaser = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(1500));
        std::fs::remove_file(lock).unwrap();
    });
    let run = repo.run(&["apply", "--env", "local", "--yes", "--lock-timeout", "1m"]);
    releaser.join().unwrap();
    run.success()
        .stderr_contains(
            "locked in this repository by `promote apply` (alice on ci-runner-7, pid 4242",
        )
        .stderr_contains("waiting up to");
    // Another environment's lock (even an unreadable one) is not this one's; the timeout can
    // also come from PROMOTE_LOCK_TIMEOUT (without a terminal the default is to wait 5m).
    repo.write(&LOCK.replace("local", "other"), "{}");
    let run = repo.run_env(
        &["backup", "--env", "local", "--branch", "b"],
        &[("PROMOTE_LOCK_TIMEOUT", "0")],
    );
    run.success();
    repo.write(LOCK, &holder("ci-runner-7", 4242));
    repo.run_env(
        &["backup", "--env", "local", "--branch", "b"],
        &[("PROMOTE_LOCK_TIMEOUT", "300ms")],
    )
    .code(1)
    .stderr_contains("environment `local` is locked")
    .stderr_contains("(waited 0s)");
}

/// Two applies started at once on one repository: one waits for the other, both land, both are
/// recorded, and the next plan of either shows nothing to do.
#[test]
fn two_applies_at_once_are_both_recorded() {
    let (repo, _) = TestRepo::example_in_git();
    apply(&repo, &[]).0.success();
    repo.edit(SAAS_WEB, SAAS_WEB_DESCRIPTION, SAAS_WEB_DESCRIPTION_NEW);
    let repo = std::sync::Arc::new(repo);
    let runs: Vec<_> = ["globex", "initech"]
        .into_iter()
        .map(|tenant| {
            let repo = repo.clone();
            std::thread::spawn(move || apply(&repo, &["--tenant", tenant, "--lock-timeout", "5m"]))
        })
        .collect();
    for r in runs {
        let (run, report) = r.join().unwrap();
        run.success();
        assert_eq!(report["tenants"][0]["outcome"], "applied", "{report}");
    }
    let (run, report) = plan(&repo, &["--tenant", "globex", "--tenant", "initech"]);
    run.success();
    for key in ["globex", "initech"] {
        assert_eq!(
            report_tenant(&report, key)["status"],
            "unchanged",
            "{report}"
        );
    }
    let files = repo.state_files();
    for key in ["globex", "initech"] {
        let record = files[&format!("local/{key}.json")].to_string();
        assert!(
            record.contains("Acme Cloud browser app for"),
            "{key}: {record}"
        );
    }
    assert!(!repo.join(LOCK).exists());
}

/// `ci --apply --state-remote` locks the environment on the remote too: a job on another
/// machine holding it stops this one, named; `unlock --state-remote` breaks it.
#[test]
fn ci_locks_the_environment_on_the_state_remote() {
    let (a, head) = crate::ci::fleet();
    let remote = tempfile::tempdir().unwrap();
    let bare = git2::Repository::init_bare(remote.path()).unwrap();
    let url = remote.path().to_str().unwrap();
    // Another machine's job holds dev's lock.
    let sig = git2::Signature::now("ci", "ci@example.com").unwrap();
    let tree = bare
        .find_tree(bare.treebuilder(None).unwrap().write().unwrap())
        .unwrap();
    let message = format!("promote lock: dev\n\n{}\n", holder("ci-runner-7", 4242));
    let lock = bare.commit(None, &sig, &sig, &message, &tree, &[]).unwrap();
    bare.reference("refs/promote/locks/dev", lock, false, "held")
        .unwrap();
    let zero = "0000000000000000000000000000000000000000";
    let args = [
        "--env",
        "dev",
        "--apply",
        "--yes",
        "--state-remote",
        url,
        "--lock-timeout",
        "0",
    ];
    let (run, _) = crate::ci::ci(&a, zero, &head, &args);
    run.code(1)
        .stderr_contains(&format!("environment `dev` is locked on the remote `{url}` by `promote apply` (alice on ci-runner-7"))
        .stderr_contains(&format!("promote unlock --env dev --state-remote {url}"));
    assert!(a.state_commits().is_empty(), "nothing was applied");
    a.run(&["unlock", "--env", "dev", "--state-remote", url])
        .success()
        .stdout_contains(&format!("broke the lock of `dev` on `{url}`"));
    assert!(bare.find_reference("refs/promote/locks/dev").is_err());
    crate::ci::ci(&a, zero, &head, &args).0.success();
    // Released on the remote when the job is done.
    assert!(bare.find_reference("refs/promote/locks/dev").is_err());
    assert!(bare.find_reference("refs/promote/state").is_ok());
}

/// An apply interrupted with Ctrl-C (SIGINT) lets its lock go and exits 130.
#[test]
fn an_interrupted_apply_releases_its_lock() {
    use crate::remote::{saas_env, saas_fleet, CLIENT_ID, CLIENT_SECRET};
    let repo = TestRepo::example();
    repo.git_init();
    let (tenants, clients) = saas_fleet("k", "int", 20);
    let data = repo.join(".promote/serve");
    let _serve = crate::support::Serve::start(
        &clients,
        &["--data", data.to_str().unwrap(), "--fault", "latency=50ms"],
    );
    let env =
        saas_env(&_serve.url, &tenants).replacen("target:\n", "target:\n  concurrency: 1\n", 1);
    repo.write("environments/soak.yaml", &env);
    repo.commit("a fleet");
    let credentials = [
        ("PROMOTE_CLIENT_ID", CLIENT_ID),
        ("PROMOTE_CLIENT_SECRET", CLIENT_SECRET),
    ];
    let mut child = repo.spawn(&["apply", "--env", "soak", "--yes"], &credentials);
    let lock = repo.join(".git/promote/locks/soak.lock");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !lock.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "the apply never took the lock"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "the apply ended before it was interrupted"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(300));
    let sent = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130), "{status:?}");
    assert!(!lock.exists(), "the lock was left behind");
}

/// A shard's lock (`ci --apply --shard 1/2`) stops every other writer of its environment: a
/// plain apply, a rollback, a shard of another fleet size; `unlock` breaks it.
#[test]
fn a_shard_lock_stops_every_other_writer() {
    let (repo, _) = applied_example();
    repo.edit(SAAS_WEB, SAAS_WEB_DESCRIPTION, SAAS_WEB_DESCRIPTION_NEW);
    let shard = ".git/promote/locks/local.shard-1-of-2.lock";
    repo.write(shard, &holder(&host(), std::process::id()));
    let before = data_bytes(&repo);
    let held = "environment `local` (shard 1 of 2) is locked in this repository by `promote apply`";
    repo.run(&["apply", "--env", "local", "--yes", "--lock-timeout", "0"])
        .code(1)
        .stderr_contains(held);
    repo.run(&ROLLBACK).code(1).stderr_contains(held);
    assert_eq!(data_bytes(&repo), before, "nothing was written");
    assert!(
        !repo.join(LOCK).exists(),
        "the runs that gave up left no lock"
    );
    repo.run(&["unlock", "--env", "local"])
        .code(1)
        .stderr_contains("still running on this host");
    repo.run(&["unlock", "--env", "local", "--force"])
        .success()
        .stdout_contains("broke the lock of `local` (shard 1 of 2) in this repository");
    assert!(!repo.join(shard).exists());
    apply(&repo, &[]).0.success();
}

/// `ci --apply --shard 1/3` waits for a job of a fleet of 2 (their tenants overlap); a shard
/// of its own fleet does not stop it.
#[test]
fn ci_shards_of_another_fleet_size_exclude_each_other() {
    let (a, head) = crate::ci::fleet();
    let zero = "0000000000000000000000000000000000000000";
    a.write(
        ".git/promote/locks/dev.shard-1-of-2.lock",
        &holder("ci-runner-7", 4242),
    );
    let args = |shard| {
        [
            "--env",
            "dev",
            "--apply",
            "--yes",
            "--shard",
            shard,
            "--lock-timeout",
            "0",
        ]
    };
    let (run, _) = crate::ci::ci(&a, zero, &head, &args("1/3"));
    run.code(1).stderr_contains(
        "environment `dev` (shard 1 of 2) is locked in this repository by `promote apply` (alice on ci-runner-7",
    );
    assert!(a.state_commits().is_empty(), "nothing was applied");
    crate::ci::ci(&a, zero, &head, &args("2/2")).0.success();
    assert!(!a.state_commits().is_empty(), "shard 2/2 applied");
}

/// A state remote's password is in no message of `unlock` (nor of its logs).
#[test]
fn unlock_never_shows_a_remote_s_password() {
    let repo = TestRepo::example_in_git().0;
    let url = "http://alice:pAssw0rdXYZ@127.0.0.1:9/x.git";
    let run = repo.run(&["-vv", "unlock", "--env", "stg", "--state-remote", url]);
    run.code(1)
        .stderr_contains("`http://alice:***@127.0.0.1:9/x.git`");
    assert!(!run.stderr.contains("pAssw0rd"), "{run}");
    assert!(!run.stdout.contains("pAssw0rd"), "{run}");
}

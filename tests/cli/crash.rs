//! Crash safety: `promote apply` and `promote backup` killed with SIGKILL at seeded random
//! moments, then run again. The platform (`promote serve`, another process) survives the kills;
//! after the run that finishes, nothing is lost or done twice, and the repository, the state
//! ref, the backups and the backup branch are whole.

use std::time::{Duration, Instant};

use crate::remote::{saas_env, saas_fleet, without_generated, CLIENT_ID, CLIENT_SECRET};
use crate::support::{Serve, TestRepo};

const TENANTS: usize = 60;

/// The client credentials of [`saas_env`] environments.
const CREDENTIALS: [(&str, &str); 2] = [
    ("PROMOTE_CLIENT_ID", CLIENT_ID),
    ("PROMOTE_CLIENT_SECRET", CLIENT_SECRET),
];

/// A small deterministic generator (xorshift), so that a failing schedule can be replayed.
struct Schedule(u64);

impl Schedule {
    /// A delay between `min` and `max` milliseconds.
    fn delay(&mut self, min: u64, max: u64) -> Duration {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        Duration::from_millis(min + self.0 % (max - min))
    }
}

/// A fleet of [`TENANTS`] saas tenants on a `promote serve` that answers slowly enough to be
/// killed mid-run; the serve's data is under `.promote/` (git-ignored).
fn fleet() -> (TestRepo, Serve, Vec<(String, String)>, String) {
    let repo = TestRepo::example();
    repo.git_init();
    let (tenants, clients) = saas_fleet("k", "kill", TENANTS);
    let data = repo.join(".promote/serve");
    let serve = Serve::start(
        &clients,
        &["--data", data.to_str().unwrap(), "--fault", "latency=10ms"],
    );
    let mut env = saas_env(&serve.url, &tenants);
    env = env.replacen("target:\n", "target:\n  concurrency: 4\n", 1);
    repo.write("environments/soak.yaml", &env);
    let head = repo.commit("a fleet");
    (repo, serve, tenants, head)
}

/// Runs `args` again and again, killing each run after a delay from `schedule` of at most
/// `within` ms, until `kills` runs were killed mid-run (a run that finishes first does not
/// count). The delays are short beside a run (every request waits on the serve's latency), so
/// that on any machine most runs are cut, early or late.
fn kill_repeatedly(
    repo: &TestRepo,
    args: &[&str],
    schedule: &mut Schedule,
    kills: usize,
    within: u64,
) {
    let mut killed = 0;
    let mut runs = 0;
    while killed < kills {
        runs += 1;
        assert!(
            runs <= kills * 4,
            "only {killed} of {runs} runs were killed mid-run"
        );
        let mut child = repo.spawn(args, &CREDENTIALS);
        let deadline = Instant::now() + schedule.delay(30, within);
        while Instant::now() < deadline {
            if child.try_wait().unwrap().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap();
            killed += 1;
        }
        child.wait().unwrap();
    }
}

/// Runs `args` to a successful end (a few tries: a run may meet a request out of attempts).
fn finish(repo: &TestRepo, args: &[&str]) {
    for _ in 0..3 {
        if repo.run_env(args, &CREDENTIALS).code == 0 {
            return;
        }
    }
    repo.run_env(args, &CREDENTIALS).success();
}

/// The work tree, HEAD and the index are as committed, and git finds every object whole.
fn repository_is_whole(repo: &TestRepo, head: &str) {
    assert_eq!(repo.git_status(), Vec::new(), "the work tree changed");
    let git = git2::Repository::open(repo.path()).unwrap();
    assert_eq!(git.head().unwrap().target().unwrap().to_string(), head);
    let fsck = std::process::Command::new("git")
        .args(["fsck", "--full", "--no-dangling", "--no-progress"])
        .current_dir(repo.path())
        .env("HOME", repo.path().join(".no-home"))
        .output();
    // git is on every machine this runs on; where it is not, libgit2's own reads below stand.
    if let Ok(out) = fsck {
        assert!(
            out.status.success(),
            "git fsck: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// The platform holds the rendering of every tenant, and the state records exactly that.
fn platform_holds_the_rendering(repo: &TestRepo, tenants: &[(String, String)], head: &str) {
    repo.run(&["render", "--env", "soak", "--out", ".promote/rendered"])
        .success();
    let state = repo.state_files();
    for (key, id) in tenants {
        let stored = without_generated(&repo.json(&format!(".promote/serve/tenants/{id}.json")));
        let rendered = repo.json(&format!(".promote/rendered/{key}.json"));
        assert!(
            stored == rendered,
            "{id} differs from the rendering at {:?}",
            crate::support::differences(&stored, &rendered)
        );
        let record = &state[&format!("soak/{key}.json")];
        assert_eq!(record["source_commit"], head, "{key}");
        assert!(
            record["tree"] == stored,
            "the state of {key} is not the platform's"
        );
    }
    // Every backup apply saved is whole JSON: none was left half-written.
    for (key, _) in tenants {
        for backup in repo.backups("soak", key) {
            let text = std::fs::read_to_string(&backup).unwrap();
            serde_json::from_str::<serde_json::Value>(&text)
                .unwrap_or_else(|e| panic!("{}: {e}", backup.display()));
        }
    }
}

#[test]
fn apply_killed_at_random_moments_finishes_on_the_next_run() {
    let (repo, serve, tenants, head) = fleet();
    let mut schedule = Schedule(0x9E37_79B9_7F4A_7C15);
    let apply = ["apply", "--env", "soak", "--yes"];

    // Creating the fleet, killed again and again, then finished.
    kill_repeatedly(&repo, &apply, &mut schedule, 4, 600);
    finish(&repo, &apply);
    platform_holds_the_rendering(&repo, &tenants, &head);
    repository_is_whole(&repo, &head);

    // A change to every tenant, killed again and again: each tenant is changed once.
    let before = serve.changing_writes();
    repo.edit(
        "templates/saas/workspaces/app/clients/web.yaml",
        "description: Acme Cloud web application for",
        "description: Acme Cloud browser app for",
    );
    let head = repo.commit("a new client description");
    kill_repeatedly(&repo, &apply, &mut schedule, 4, 300);
    finish(&repo, &apply);
    platform_holds_the_rendering(&repo, &tenants, &head);
    repository_is_whole(&repo, &head);
    let after = serve.changing_writes();
    for (_, id) in &tenants {
        let writes = after.get(id).unwrap_or(&0) - before.get(id).unwrap_or(&0);
        assert_eq!(writes, 1, "{id} was changed by {writes} writes");
    }
}

#[test]
fn backup_killed_at_random_moments_leaves_the_branch_whole() {
    let (repo, _serve, tenants, head) = fleet();
    finish(&repo, &["apply", "--env", "soak", "--yes"]);
    let mut schedule = Schedule(0xD1B5_4A32_D192_ED03);
    let backup = ["backup", "--env", "soak"];
    let branch = "refs/heads/backups/soak";
    // What a whole backup holds: one directory per tenant, as export lays it out.
    let whole = |repo: &TestRepo| {
        let git = git2::Repository::open(repo.path()).unwrap();
        let Ok(commit) = git.find_reference(branch).and_then(|r| r.peel_to_commit()) else {
            return None;
        };
        let tree = commit.tree().unwrap();
        let dirs: Vec<String> = tree.iter().map(|e| e.name().unwrap().to_owned()).collect();
        Some((commit.id(), dirs))
    };
    let keys: Vec<String> = tenants.iter().map(|(k, _)| k.clone()).collect();

    kill_repeatedly(&repo, &backup, &mut schedule, 4, 300);
    // A killed backup leaves no branch or a whole one, never a part.
    if let Some((_, dirs)) = whole(&repo) {
        assert_eq!(dirs, keys);
    }
    finish(&repo, &backup);
    let (first, dirs) = whole(&repo).unwrap();
    assert_eq!(dirs, keys);
    repository_is_whole(&repo, &head);

    // A change on the platform, backed up through kills: one new commit on the first, holding it.
    repo.edit(
        "environments/soak.yaml",
        "customer_name: Customer 7,",
        "customer_name: Renamed 7,",
    );
    let head = repo.commit("customer 7 is renamed");
    finish(
        &repo,
        &["apply", "--env", "soak", "--yes", "--tenant", &tenants[7].0],
    );
    kill_repeatedly(&repo, &backup, &mut schedule, 4, 300);
    finish(&repo, &backup);
    let git = git2::Repository::open(repo.path()).unwrap();
    let tip = git
        .find_reference(branch)
        .unwrap()
        .peel_to_commit()
        .unwrap();
    assert_eq!(
        tip.parent_id(0).unwrap(),
        first,
        "the backup history lost a commit"
    );
    let file = tip
        .tree()
        .unwrap()
        .get_path(std::path::Path::new(&format!(
            "{}/tenant.yaml",
            tenants[7].0
        )))
        .unwrap();
    let blob = git.find_blob(file.id()).unwrap();
    assert!(String::from_utf8_lossy(blob.content()).contains("Renamed 7"));
    // Nothing more to back up.
    repo.run_env(&backup, &CREDENTIALS).success();
    assert_eq!(
        git.find_reference(branch).unwrap().target().unwrap(),
        tip.id()
    );
    repository_is_whole(&repo, &head);
}

use super::*;

fn repo() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    git2::Repository::init(dir.path()).unwrap();
    dir
}

fn options(timeout: Duration, remote: Option<String>) -> Options {
    Options {
        timeout,
        remote,
        command: "apply".into(),
        commit: Some("0123456789abcdef".into()),
        scope: Scope::Whole,
    }
}

fn shard(index: usize, count: usize) -> Scope {
    Scope::Shard { index, count }
}

/// `o` for `scope`.
fn of(scope: Scope, o: &Options) -> Options {
    Options { scope, ..o.clone() }
}

fn take(dir: &Path, env: &str, o: &Options) -> Result<Guard> {
    acquire(dir, env, o, &mut |_| {})
}

#[test]
fn one_holder_at_a_time_named_and_released_on_drop() {
    let dir = repo();
    let o = options(Duration::ZERO, None);
    let guard = take(dir.path(), "prod", &o).unwrap();
    let holder = holder(dir.path(), "prod").unwrap().unwrap().unwrap();
    assert_eq!(holder.pid, std::process::id());
    assert_eq!(holder.command, "apply");
    assert_eq!(holder.alive(), Some(true));
    // Another environment is not locked by it.
    let other = take(dir.path(), "staging", &o).unwrap();
    let e = take(dir.path(), "prod", &o).unwrap_err();
    let text = format!("{e:#}");
    assert!(
        text.contains("environment `prod` is locked in this repository by `promote apply`"),
        "{text}"
    );
    assert!(
        text.contains(&format!("pid {}", std::process::id())),
        "{text}"
    );
    assert!(text.contains("commit 0123456789"), "{text}");
    assert!(
        e.hint
            .as_deref()
            .unwrap_or_default()
            .contains("promote unlock --env prod"),
        "{e:?}"
    );
    drop(guard);
    drop(other);
    assert!(holder_is_none(dir.path(), "prod"));
    let _again = take(dir.path(), "prod", &o).unwrap();
}

fn holder_is_none(dir: &Path, env: &str) -> bool {
    super::holder(dir, env).unwrap().is_none()
}

/// A linked work tree sees the lock of the main one: it is in the git common directory.
#[test]
fn every_work_tree_of_a_repository_shares_the_lock() {
    let dir = tempfile::tempdir().unwrap();
    let git = git2::Repository::init(dir.path().join("main")).unwrap();
    let sig = git2::Signature::now("t", "t@example.com").unwrap();
    let tree = git
        .find_tree(git.index().unwrap().write_tree().unwrap())
        .unwrap();
    git.commit(Some("HEAD"), &sig, &sig, "m", &tree, &[])
        .unwrap();
    let linked = dir.path().join("linked");
    git.worktree("linked", &linked, None).unwrap();
    let o = options(Duration::ZERO, None);
    let _guard = take(&dir.path().join("main"), "prod", &o).unwrap();
    assert!(take(&linked, "prod", &o).is_err());
}

/// A waiting run takes the lock as soon as the holder lets it go, and was told who it waited
/// for; a run that waits in vain says how long it waited.
#[test]
fn a_second_run_waits_for_the_first() {
    let dir = repo();
    let guard = take(dir.path(), "prod", &options(Duration::ZERO, None)).unwrap();
    let path = dir.path().to_path_buf();
    let waiter = std::thread::spawn(move || {
        let mut told = Vec::new();
        let g = acquire(
            &path,
            "prod",
            &options(Duration::from_secs(30), None),
            &mut |t| told.push(t.to_owned()),
        );
        (g.map(|_| ()).map_err(|e| e.to_string()), told)
    });
    std::thread::sleep(Duration::from_millis(600));
    drop(guard);
    let (got, told) = waiter.join().unwrap();
    got.unwrap();
    assert_eq!(told.len(), 1, "{told:?}");
    assert!(told[0].contains("waiting up to"), "{told:?}");
    let _guard = take(dir.path(), "prod", &options(Duration::ZERO, None)).unwrap();
    let e = take(
        dir.path(),
        "prod",
        &options(Duration::from_millis(300), None),
    )
    .unwrap_err();
    assert!(e.to_string().contains("(waited 0s)"), "{e}");
}

/// The lock of `prod` as a run of `command` that died on this host left it.
fn left_by_a_dead_run(dir: &Path, command: &str) -> (PathBuf, Holder) {
    left_by_a_dead_run_of(dir, Scope::Whole, command)
}

/// The lock of `scope` of `prod` as a run of `command` that died on this host left it.
fn left_by_a_dead_run_of(dir: &Path, scope: Scope, command: &str) -> (PathBuf, Holder) {
    let path = local::path(dir, &scope.name("prod").unwrap()).unwrap();
    let mut dead = Holder::this(command, None);
    dead.pid = u32::MAX - 1;
    assert!(matches!(
        local::try_take(&path, &dead).unwrap(),
        local::Took::Taken
    ));
    (path, dead)
}

/// Takes the whole of `prod`, asserting that it said it took over a lock of a dead `command`.
fn take_over(dir: &Path, command: &str) -> Guard {
    let mut notes = Vec::new();
    let guard = acquire(dir, "prod", &options(Duration::ZERO, None), &mut |n| {
        notes.push(n.to_owned())
    })
    .unwrap();
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(
        notes[0].contains(&format!("`promote {command}`")) && notes[0].contains("taken over"),
        "{notes:?}"
    );
    guard
}

/// A lock whose process died on this host is taken over, saying so; breaking a lock refuses a
/// live holder unless forced.
#[test]
fn dead_holders_are_taken_over_and_live_ones_kept() {
    let dir = repo();
    let (path, dead) = left_by_a_dead_run(dir.path(), "rollback");
    drop(take_over(dir.path(), "rollback"));

    // The stale-lock hint, for a holder this host knows is gone (here on the remote's side).
    let taken = Taken {
        place: Place::Remote("origin".into()),
        scope: Scope::Whole,
        holder: Some(dead.clone()),
    };
    let e = taken.error("prod", Duration::ZERO);
    assert!(
        e.hint
            .as_deref()
            .unwrap_or_default()
            .contains("the lock is stale"),
        "{e:?}"
    );
    assert!(
        e.hint
            .as_deref()
            .unwrap_or_default()
            .contains("promote unlock --env prod --state-remote origin"),
        "{e:?}"
    );

    assert!(matches!(
        local::try_take(&path, &dead).unwrap(),
        local::Took::Taken
    ));
    let broken = break_lock(dir.path(), "prod", None, false).unwrap();
    assert_eq!(broken.len(), 1);
    assert_eq!(broken[0].holder.as_ref().unwrap().command, "rollback");
    assert!(holder_is_none(dir.path(), "prod"));
    assert!(break_lock(dir.path(), "prod", None, false)
        .unwrap()
        .is_empty());

    let _alive = take(dir.path(), "prod", &options(Duration::ZERO, None)).unwrap();
    let e = break_lock(dir.path(), "prod", None, false).unwrap_err();
    assert!(e.to_string().contains("still running on this host"), "{e}");
    assert_eq!(break_lock(dir.path(), "prod", None, true).unwrap().len(), 1);
    assert!(holder_is_none(dir.path(), "prod"));
}

/// Runs that find one dead holder at once: exactly one takes the lock.
#[test]
fn one_of_many_takes_over_a_dead_holder() {
    let dir = repo();
    let (path, _) = left_by_a_dead_run(dir.path(), "apply");
    let runs: Vec<_> = (0..6)
        .map(|i| {
            let path = path.clone();
            std::thread::spawn(move || {
                let mut me = Holder::this("apply", None);
                me.id = format!("run-{i}");
                !matches!(local::try_take(&path, &me).unwrap(), local::Took::Held(_))
            })
        })
        .collect();
    let winners = runs
        .into_iter()
        .filter_map(|r| r.join().unwrap().then_some(()))
        .count();
    assert_eq!(winners, 1);
}

/// On a shared remote, of two clones only one holds the lock; the other is told who, and takes
/// it once it is released.
#[test]
fn the_remote_lock_is_taken_by_one_clone_at_a_time() {
    let remote = tempfile::tempdir().unwrap();
    git2::Repository::init_bare(remote.path()).unwrap();
    let url = remote.path().to_str().unwrap().to_owned();
    let (a, b) = (repo(), repo());
    let o = options(Duration::ZERO, Some(url.clone()));
    let guard = take(a.path(), "prod", &o).unwrap();
    let e = take(b.path(), "prod", &o).unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains(&format!("locked on the remote `{url}` by `promote apply`")),
        "{text}"
    );
    assert!(
        e.hint
            .as_deref()
            .unwrap_or_default()
            .contains(&format!("--state-remote {url}")),
        "{e:?}"
    );
    // b's local lock was let go when it gave up.
    assert!(holder_is_none(b.path(), "prod"));
    drop(guard);
    let bare = git2::Repository::open_bare(remote.path()).unwrap();
    assert!(bare.find_reference("refs/promote/locks/prod").is_err());
    let guard = take(b.path(), "prod", &o).unwrap();
    // Broken from another clone (its holder is on this host and alive: forced).
    assert!(break_lock(a.path(), "prod", Some(&url), false).is_err());
    let broken = break_lock(a.path(), "prod", Some(&url), true).unwrap();
    assert_eq!(broken.len(), 1, "{broken:?}");
    assert!(bare.find_reference("refs/promote/locks/prod").is_err());
    // Releasing a lock that was broken leaves the new holder's alone.
    let c = take(a.path(), "prod", &o).unwrap();
    drop(guard);
    assert!(bare.find_reference("refs/promote/locks/prod").is_ok());
    drop(c);
}

#[test]
fn durations_read_as_people_write_them() {
    for (text, secs) in [
        ("0", 0),
        ("30", 30),
        ("30s", 30),
        ("5m", 300),
        ("1h", 3600),
        ("1m30s", 90),
    ] {
        assert_eq!(
            parse_duration(text).unwrap(),
            Duration::from_secs(secs),
            "{text}"
        );
    }
    assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
    for bad in ["", "5x", "m", "-1s", "1.5m"] {
        assert!(parse_duration(bad).is_err(), "{bad}");
    }
}

#[test]
fn release_all_lets_every_held_lock_go() {
    let dir = repo();
    let guard = take(dir.path(), "interrupted", &options(Duration::ZERO, None)).unwrap();
    // (release_all, but only this test's lock: the other tests hold theirs meanwhile.)
    let path = local::path(dir.path(), "interrupted").unwrap();
    assert_eq!(release_held(|h| h.local == path), ["interrupted"]);
    assert!(holder_is_none(dir.path(), "interrupted"));
    drop(guard);
}

#[test]
fn scopes_conflict_except_the_shards_of_one_fleet() {
    let whole = Scope::Whole;
    for (a, b, conflict) in [
        (whole, whole, true),
        (whole, shard(1, 2), true),
        (shard(1, 2), shard(1, 2), true),
        (shard(1, 2), shard(2, 2), false),
        (shard(1, 2), shard(1, 3), true),
        (shard(2, 2), shard(3, 3), true),
    ] {
        assert_eq!(a.conflicts(b), conflict, "{a:?} {b:?}");
        assert_eq!(b.conflicts(a), conflict, "{b:?} {a:?}");
    }
    for scope in [whole, shard(1, 2), shard(12, 30)] {
        let name = scope.name("prod").unwrap();
        let rest = name.strip_prefix("prod").unwrap();
        assert_eq!(Scope::parse(rest), Some(scope), "{name}");
    }
    for bad in [
        ".shard-1",
        ".shard-a-of-2",
        ".shard-01-of-2",
        "x",
        ".shard-1-of-2x",
    ] {
        assert_eq!(Scope::parse(bad), None, "{bad}");
    }
    let names = [
        "prod",
        "prod.shard-1-of-2",
        "production",
        "prod.x",
        "staging",
    ];
    let found = Scope::of_env("prod", names).unwrap();
    assert_eq!(found, [(whole, "prod"), (shard(1, 2), "prod.shard-1-of-2")]);
}

/// The pairs of scopes (held first, then tried) that conflict, in both directions.
fn conflicting_pairs() -> Vec<(Scope, Scope)> {
    let pairs = [
        (Scope::Whole, shard(1, 2)),
        (shard(1, 2), shard(1, 3)),
        (shard(2, 3), shard(1, 2)),
    ];
    pairs.iter().flat_map(|&(a, b)| [(a, b), (b, a)]).collect()
}

/// A shard's lock keeps out every other writer of its environment but the other shards of its
/// fleet; and it is kept out by them.
#[test]
fn a_lock_excludes_every_conflicting_lock_of_its_environment() {
    let o = options(Duration::ZERO, None);
    for (held, tried) in conflicting_pairs() {
        let dir = repo();
        let guard = take(dir.path(), "prod", &of(held, &o)).unwrap();
        let started = Instant::now();
        let e = take(dir.path(), "prod", &of(tried, &o)).unwrap_err();
        // A timeout of 0 fails at once.
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{held:?} {tried:?}"
        );
        let text = e.to_string();
        assert!(
            text.contains(&format!(
                "environment `prod`{} is locked in this repository by `promote apply`",
                held.describe()
            )),
            "{held:?} {tried:?}: {text}"
        );
        // The run that gave up left no lock of its own behind.
        let left = local::all_of(dir.path(), "prod").unwrap();
        assert_eq!(left.len(), 1, "{held:?} {tried:?}");
        assert_eq!(left[0].1.scope, held);
        // Another environment is not concerned.
        drop(take(dir.path(), "prod2", &of(tried, &o)).unwrap());
        drop(guard);
        drop(take(dir.path(), "prod", &of(tried, &o)).unwrap());
    }
    // The shards of one fleet run side by side, and keep the whole environment out.
    let dir = repo();
    let one = take(dir.path(), "prod", &of(shard(1, 2), &o)).unwrap();
    let two = take(dir.path(), "prod", &of(shard(2, 2), &o)).unwrap();
    assert!(take(dir.path(), "prod", &o).is_err());
    assert!(take(dir.path(), "prod", &of(shard(2, 3), &o)).is_err());
    drop(one);
    assert!(take(dir.path(), "prod", &o).is_err());
    drop(two);
    drop(take(dir.path(), "prod", &o).unwrap());
}

/// Runs of conflicting scopes that try at the same moment never hold at once, and every one
/// of them gets through in the end (they do not back off in step for ever).
#[test]
fn conflicting_runs_racing_take_turns() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    let dir = repo();
    let inside = Arc::new(AtomicUsize::new(0));
    let scopes = [Scope::Whole, shard(1, 2), shard(1, 3), Scope::Whole];
    let runs: Vec<_> = scopes
        .into_iter()
        .map(|scope| {
            let path = dir.path().to_path_buf();
            let inside = Arc::clone(&inside);
            std::thread::spawn(move || {
                for _ in 0..3 {
                    let o = of(scope, &options(Duration::from_secs(60), None));
                    let guard = take(&path, "prod", &o).unwrap();
                    assert_eq!(inside.fetch_add(1, Ordering::SeqCst), 0, "two holders");
                    std::thread::sleep(Duration::from_millis(10));
                    inside.fetch_sub(1, Ordering::SeqCst);
                    drop(guard);
                }
            })
        })
        .collect();
    for r in runs {
        r.join().unwrap();
    }
    assert!(local::all_of(dir.path(), "prod").unwrap().is_empty());
}

/// A conflicting lock whose holder died on this host is taken over, as the lock itself is.
#[test]
fn a_dead_conflicting_lock_is_taken_over() {
    let dir = repo();
    let (path, _) = left_by_a_dead_run_of(dir.path(), shard(1, 3), "ci --apply");
    let guard = take_over(dir.path(), "ci --apply");
    assert!(!path.exists());
    drop(guard);
}

/// `promote unlock` breaks the shards' locks with the whole environment's.
#[test]
fn breaking_the_lock_breaks_every_shard_of_it() {
    let dir = repo();
    let o = options(Duration::ZERO, None);
    let one = take(dir.path(), "prod", &of(shard(1, 2), &o)).unwrap();
    let two = take(dir.path(), "prod", &of(shard(2, 2), &o)).unwrap();
    let other = take(dir.path(), "staging", &o).unwrap();
    assert!(break_lock(dir.path(), "prod", None, false).is_err());
    let mut broken: Vec<_> = break_lock(dir.path(), "prod", None, true)
        .unwrap()
        .into_iter()
        .map(|t| t.scope)
        .collect();
    broken.sort_by_key(|s| format!("{s:?}"));
    assert_eq!(broken, [shard(1, 2), shard(2, 2)]);
    assert!(local::all_of(dir.path(), "prod").unwrap().is_empty());
    assert_eq!(local::all_of(dir.path(), "staging").unwrap().len(), 1);
    drop((one, two, other));
}

/// On a shared remote, a shard's lock keeps out the clones' other writers too, in both
/// directions, and `unlock --state-remote` breaks it.
#[test]
fn the_remote_lock_excludes_conflicting_locks_of_other_clones() {
    let remote = tempfile::tempdir().unwrap();
    git2::Repository::init_bare(remote.path()).unwrap();
    let bare = git2::Repository::open_bare(remote.path()).unwrap();
    let url = remote.path().to_str().unwrap().to_owned();
    let o = options(Duration::ZERO, Some(url.clone()));
    for (held, tried) in conflicting_pairs() {
        let (a, b) = (repo(), repo());
        let guard = take(a.path(), "prod", &of(held, &o)).unwrap();
        let e = take(b.path(), "prod", &of(tried, &o)).unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains(&format!(
                "environment `prod`{} is locked on the remote `{url}`",
                held.describe()
            )),
            "{held:?} {tried:?}: {text}"
        );
        // The run that gave up removed its ref from the remote, and its local lock.
        let refs: Vec<String> = bare
            .references_glob("refs/promote/locks/*")
            .unwrap()
            .map(|r| r.unwrap().name().unwrap().to_owned())
            .collect();
        assert_eq!(
            refs,
            [format!("refs/promote/locks/{}", held.name("prod").unwrap())]
        );
        assert!(local::all_of(b.path(), "prod").unwrap().is_empty());
        drop(guard);
        drop(take(b.path(), "prod", &of(tried, &o)).unwrap());
    }
    let (a, b) = (repo(), repo());
    let one = take(a.path(), "prod", &of(shard(1, 2), &o)).unwrap();
    let two = take(b.path(), "prod", &of(shard(2, 2), &o)).unwrap();
    let broken = break_lock(a.path(), "prod", Some(&url), true).unwrap();
    // Its own local one, and both on the remote.
    assert_eq!(broken.len(), 3, "{broken:?}");
    assert!(bare
        .references_glob("refs/promote/locks/*")
        .unwrap()
        .next()
        .is_none());
    drop((one, two));
}

/// A remote's password is in no message of the lock: not in an error, not in a hint.
#[test]
fn a_remote_url_s_password_is_never_shown() {
    let dir = repo();
    let url = "http://alice:pAssw0rdXYZ@127.0.0.1:9/x.git";
    let e = break_lock(dir.path(), "stg", Some(url), false).unwrap_err();
    let text = format!("{e:#} {:?}", e.hint);
    assert!(
        text.contains("http://alice:***@127.0.0.1:9/x.git"),
        "{text}"
    );
    assert!(!text.contains("pAssw0rd"), "{text}");
    let e = take(
        dir.path(),
        "stg",
        &options(Duration::ZERO, Some(url.into())),
    )
    .unwrap_err();
    let text = format!("{e:#} {:?}", e.hint);
    assert!(text.contains("alice:***@"), "{text}");
    assert!(!text.contains("pAssw0rd"), "{text}");
    // The remote's lock is shown as a place without it.
    let taken = Taken {
        place: Place::Remote(crate::scrub::remote(url)),
        scope: Scope::Whole,
        holder: None,
    };
    let e = taken.error("stg", Duration::ZERO);
    let text = format!("{e:#} {:?}", e.hint);
    assert!(text.contains("--state-remote http://alice:***@"), "{text}");
    assert!(!text.contains("pAssw0rd"), "{text}");
}

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
    }
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
    let path = local::path(dir, "prod").unwrap();
    let mut dead = Holder::this(command, None);
    dead.pid = u32::MAX - 1;
    assert!(matches!(
        local::try_take(&path, &dead).unwrap(),
        local::Took::Taken
    ));
    (path, dead)
}

/// A lock whose process died on this host is taken over, saying so; breaking a lock refuses a
/// live holder unless forced.
#[test]
fn dead_holders_are_taken_over_and_live_ones_kept() {
    let dir = repo();
    let (path, dead) = left_by_a_dead_run(dir.path(), "rollback");
    let mut notes = Vec::new();
    let guard = acquire(
        dir.path(),
        "prod",
        &options(Duration::ZERO, None),
        &mut |n| notes.push(n.to_owned()),
    )
    .unwrap();
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(
        notes[0].contains("`promote rollback`") && notes[0].contains("taken over"),
        "{notes:?}"
    );
    drop(guard);

    // The stale-lock hint, for a holder this host knows is gone (here on the remote's side).
    let taken = Taken {
        place: Place::Remote("origin".into()),
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

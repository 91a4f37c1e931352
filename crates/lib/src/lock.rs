//! The environment lock: one writer per environment at a time.
//!
//! Every command that writes to an environment (`apply`, `ci --apply`, `rollback`, `migrate`,
//! `backup`) holds its lock from its first read (the last-applied state, the live exports) to
//! its last record. Two runs that both planned against the same live state and both wrote
//! would each record one side only, and the next plan of one would revert the other's change
//! as drift.
//!
//! The lock is local, a file in the repository's git common directory
//! (`.git/promote/locks/<env>.lock`, shared by every work tree of the repository), and with a
//! state remote also remote: a ref `refs/promote/locks/<env>` pushed only if the remote has
//! none ([`remote`]). Both say who holds them ([`Holder`]): host, process, user, command,
//! commit and since when.
//!
//! A `ci --apply --shard K/N` job locks only its part of the environment ([`Scope`]:
//! `<env>.shard-K-of-N.lock`, `refs/promote/locks/<env>.shard-K-of-N`), so that the shards of
//! one fleet run side by side; every other pair of locks of one environment conflicts (the whole
//! environment and a shard, shards of different fleet sizes, whose tenants overlap). Each run
//! creates its own lock (only if absent), then looks for conflicting ones; finding one, it
//! removes its own and waits as for a taken lock. Two runs that see each other both back off,
//! and retry after a random part of a poll, so that one of them gets through.
//!
//! A run that finds the lock taken waits up to its timeout, polling, then fails naming the
//! holder. The lock is released when the [`Guard`] is dropped, on
//! success and on error alike; [`release_all`] releases what this process holds (for an
//! interrupt). A local lock whose holder died on this host is taken over by the next run; any
//! other lock a dead run left is broken with `promote unlock` ([`break_lock`]),
//! which refuses a holder still running on this host.

mod local;
mod remote;

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::diagnostic::{Diagnostic, Result};

/// How a command takes the lock.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// How long to wait for another run to release it (zero: fail at once).
    pub timeout: Duration,
    /// Also lock on this git remote (a name or a URL): the `--state-remote` the state is
    /// shared through.
    pub remote: Option<String>,
    /// The command holding it, for the holder record (`apply`, `ci --apply`, ...).
    pub command: String,
    /// The commit being written, for the holder record (default: the repository's HEAD).
    pub commit: Option<String>,
    /// The part of the environment locked: all of it, or one shard of a `ci` fleet.
    pub scope: Scope,
}

/// The part of an environment a lock covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// The whole environment.
    #[default]
    Whole,
    /// The tenants of shard `index` (from 1) of `count` (`ci --shard K/N`).
    Shard {
        /// K, from 1.
        index: usize,
        /// N.
        count: usize,
    },
}

impl Scope {
    /// Whether a lock of this scope and one of `other` cannot be held at once: only the shards
    /// of one fleet size with different indexes share no tenant.
    pub fn conflicts(self, other: Scope) -> bool {
        match (self, other) {
            (
                Scope::Shard { index, count },
                Scope::Shard {
                    index: other_index,
                    count: other_count,
                },
            ) => count != other_count || index == other_index,
            _ => true,
        }
    }

    /// The lock's name for `env`: `prod`, `prod.shard-1-of-2` (a file name and a ref's last
    /// component).
    fn name(self, env: &str) -> Result<String> {
        Ok(format!("{}{}", crate::keys::encode(env)?, self.suffix()))
    }

    fn suffix(self) -> String {
        match self {
            Scope::Whole => String::new(),
            Scope::Shard { index, count } => format!(".shard-{index}-of-{count}"),
        }
    }

    /// The scope a lock name's `rest` (what follows the environment's name) stands for.
    fn parse(rest: &str) -> Option<Scope> {
        if rest.is_empty() {
            return Some(Scope::Whole);
        }
        let (index, count) = rest.strip_prefix(".shard-")?.split_once("-of-")?;
        let scope = Scope::Shard {
            index: index.parse().ok()?,
            count: count.parse().ok()?,
        };
        (scope.suffix() == rest).then_some(scope)
    }

    /// The scopes of the locks named in `names` that are of `env`, with their names.
    fn of_env<'n>(
        env: &str,
        names: impl IntoIterator<Item = &'n str>,
    ) -> Result<Vec<(Scope, &'n str)>> {
        let prefix = crate::keys::encode(env)?;
        Ok(names
            .into_iter()
            .filter_map(|n| Some((Scope::parse(n.strip_prefix(&prefix)?)?, n)))
            .collect())
    }

    /// ` (shard 1 of 2)`, or nothing for the whole environment.
    pub fn describe(self) -> String {
        match self {
            Scope::Whole => String::new(),
            Scope::Shard { index, count } => format!(" (shard {index} of {count})"),
        }
    }
}

/// Who holds a lock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    /// Unique to one acquisition: a run releases only the lock it took.
    pub id: String,
    /// The host the run is on.
    pub host: String,
    /// Its process ID on that host.
    pub pid: u32,
    /// The user running it.
    pub user: String,
    /// The command (`apply`, `ci --apply`, ...).
    pub command: String,
    /// The commit it writes, if known.
    pub commit: Option<String>,
    /// When it took the lock, in seconds since the Unix epoch.
    pub since: u64,
}

impl Holder {
    /// This process, running `command` at `commit`.
    fn this(command: &str, commit: Option<String>) -> Holder {
        let now = crate::clock::now();
        let pid = std::process::id();
        let host = host_name();
        Holder {
            id: format!("{host}:{pid}:{}", now.as_nanos()),
            host,
            pid,
            user: user_name(),
            command: command.to_owned(),
            commit,
            since: now.as_secs(),
        }
    }

    /// Whether the holder's process is still running: `None` when this host cannot tell (the
    /// holder is on another host, or the system shows no process table).
    pub fn alive(&self) -> Option<bool> {
        if self.host != host_name() {
            return None;
        }
        let proc = Path::new("/proc");
        if !proc.join("self").exists() {
            return None;
        }
        Some(proc.join(self.pid.to_string()).exists())
    }

    /// `` `promote apply` (alice on ci-7, pid 4242, commit 1a2b3c4d) since 2026-12-05T16:50:01Z
    /// (3m12s ago)``.
    pub fn describe(&self) -> String {
        let since = Duration::from_secs(self.since);
        let ago = crate::clock::now().saturating_sub(since);
        let commit = self
            .commit
            .as_deref()
            .map(|c| format!(", commit {}", c.chars().take(10).collect::<String>()))
            .unwrap_or_default();
        format!(
            "`promote {}` ({} on {}, pid {}{commit}) since {} ({} ago)",
            self.command,
            self.user,
            self.host,
            self.pid,
            crate::clock::rfc3339(since),
            crate::clock::human(ago)
        )
    }
}

/// Where a lock is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    /// In this repository's git directory.
    Local,
    /// On this git remote.
    Remote(String),
}

/// A lock found taken: where, of what part, and by whom (`None` when its record cannot be
/// read).
#[derive(Debug, Clone)]
pub struct Taken {
    /// Where the lock is (a remote's URL as [`crate::scrub::remote`] shows it).
    pub place: Place,
    /// The part of the environment it locks.
    pub scope: Scope,
    /// Who holds it.
    pub holder: Option<Holder>,
}

impl Taken {
    fn describe(&self, env: &str) -> String {
        let place = match &self.place {
            Place::Local => "in this repository".to_owned(),
            Place::Remote(r) => format!("on the remote `{r}`"),
        };
        let part = self.scope.describe();
        match &self.holder {
            Some(h) => format!("environment `{env}`{part} is locked {place} by {}", h.describe()),
            None => format!("environment `{env}`{part} is locked {place} by a run promote cannot name (its lock record is unreadable)"),
        }
    }

    /// The error of a run that gave up waiting, with what to do.
    fn error(&self, env: &str, timeout: Duration) -> Diagnostic {
        let remote = match &self.place {
            Place::Local => String::new(),
            Place::Remote(r) => format!(" --state-remote {r}"),
        };
        let unlock = format!("promote unlock --env {env}{remote}");
        let waited = if timeout.is_zero() {
            String::new()
        } else {
            format!(" (waited {})", crate::clock::human(timeout))
        };
        let hint = match self.holder.as_ref().and_then(Holder::alive) {
            Some(false) => format!(
                "its process is no longer running on this host: the lock is stale. See what that run left with `promote plan --env {env}`, then break the lock with `{unlock}`"
            ),
            _ => format!(
                "wait for that run to finish (--lock-timeout 10m waits up to ten minutes); if it is gone, break the lock with `{unlock}`"
            ),
        };
        Diagnostic::new(format!("{}{waited}", self.describe(env))).hint(hint)
    }
}

/// The lock of one environment, held until dropped.
#[must_use = "the lock is released when the guard is dropped"]
#[derive(Debug)]
pub struct Guard {
    env: String,
    held: Held,
}

/// What one acquisition holds, enough to release it from anywhere in the process.
#[derive(Debug, Clone)]
struct Held {
    id: String,
    env: String,
    local: PathBuf,
    remote: Option<remote::Held>,
}

impl Held {
    fn release(&self) -> Result<()> {
        let remote = match &self.remote {
            Some(r) => r.release(),
            None => Ok(()),
        };
        let local = local::release(&self.local, &self.id);
        remote.and(local)
    }
}

/// The locks this process holds, for [`release_all`].
static HELD: Mutex<Vec<Held>> = Mutex::new(Vec::new());

fn held() -> std::sync::MutexGuard<'static, Vec<Held>> {
    HELD.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Guard {
    /// The environment locked.
    pub fn env(&self) -> &str {
        &self.env
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        held().retain(|h| h.id != self.held.id);
        if let Err(e) = self.held.release() {
            tracing::warn!("the lock on `{}` was not released: {e:#}", self.env);
        }
    }
}

/// Releases every lock this process holds (when it is interrupted: the guards' owners will
/// not run on). Returns the environments released.
pub fn release_all() -> Vec<String> {
    release_held(|_| true)
}

/// Releases the locks this process holds that `which` picks.
fn release_held(which: impl Fn(&Held) -> bool) -> Vec<String> {
    let picked: Vec<Held> = {
        let mut all = held();
        let (picked, kept) = std::mem::take(&mut *all)
            .into_iter()
            .partition(|h| which(h));
        *all = kept;
        picked
    };
    picked
        .iter()
        .filter_map(|h| {
            h.release().ok()?;
            Some(h.env.clone())
        })
        .collect()
}

/// Takes the lock of `env` (of `options.scope` of it) for the repository at `repo`: locally,
/// and on `options.remote` when set. Waits up to `options.timeout` while another run holds a
/// conflicting lock, telling `note` once whom it waits for; then fails naming the holder. A
/// local lock whose holder's process is gone from this host is taken over, and `note` says so.
pub fn acquire(
    repo: &Path,
    env: &str,
    options: &Options,
    note: &mut dyn FnMut(&str),
) -> Result<Guard> {
    let deadline = Instant::now() + options.timeout;
    let commit = options.commit.clone().or_else(|| head_commit(repo));
    let holder = Holder::this(&options.command, commit);
    let scope = options.scope;
    let path = local::path(repo, &scope.name(env)?)?;
    let mut told = false;
    let mut wait = |taken: &Taken, note: &mut dyn FnMut(&str)| -> Result<()> {
        let now = Instant::now();
        if now >= deadline {
            return Err(taken.error(env, options.timeout));
        }
        if !told {
            told = true;
            note(&format!(
                "{}; waiting up to {} for it",
                taken.describe(env),
                crate::clock::human(deadline - now)
            ));
        }
        std::thread::sleep((POLL + jitter()).min(deadline - now));
        Ok(())
    };
    let taken_over = |dead: &Holder, note: &mut dyn FnMut(&str)| {
        note(&format!(
            "the lock of `{env}` was held by {}, whose process is gone from this host: taken over (`promote plan --env {env}` shows what that run left)",
            dead.describe()
        ));
    };
    loop {
        match local::try_take(&path, &holder)? {
            local::Took::Taken => {}
            local::Took::TakenOver(dead) => taken_over(&dead, note),
            local::Took::Held(found) => {
                let taken = Taken {
                    place: Place::Local,
                    scope,
                    holder: found,
                };
                wait(&taken, note)?;
                continue;
            }
        }
        let found = local::conflicting(repo, env, scope)?;
        for dead in &found.taken_over {
            taken_over(dead, note);
        }
        match found.held {
            None => break,
            Some(taken) => {
                local::release(&path, &holder.id)?;
                wait(&taken, note)?;
            }
        }
    }
    let mut held = Held {
        id: holder.id.clone(),
        env: env.to_owned(),
        local: path,
        remote: None,
    };
    if let Some(url) = &options.remote {
        loop {
            match remote::try_take(repo, url, env, scope, &holder) {
                Ok(Ok(r)) => {
                    held.remote = Some(r);
                    break;
                }
                Ok(Err(found)) => {
                    let taken = Taken {
                        place: Place::Remote(crate::scrub::remote(url)),
                        scope: found.scope,
                        holder: found.holder,
                    };
                    if let Err(e) = wait(&taken, note) {
                        let _ = held.release();
                        return Err(e);
                    }
                }
                Err(e) => {
                    let _ = held.release();
                    return Err(e);
                }
            }
        }
    }
    self::held().push(held.clone());
    tracing::info!(env, scope = %scope.describe().trim(), "lock taken");
    Ok(Guard {
        env: env.to_owned(),
        held,
    })
}

/// A random part of a poll, added to each wait: two runs that found each other's lock and both
/// let theirs go do not retry in step for ever.
fn jitter() -> Duration {
    use std::hash::{BuildHasher, Hasher};
    // `RandomState` is seeded at random for each process and each instance.
    let random = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    let poll = u64::try_from(POLL.as_millis()).unwrap_or(250);
    Duration::from_millis(random % poll)
}

/// How often a waiting run looks at the lock again.
const POLL: Duration = Duration::from_millis(250);

/// Breaks the locks of `env`, of the whole environment and of every shard (locally, and on
/// `remote` when given): for a run that died holding one. Refuses a lock whose holder is still
/// running on this host unless `force`. Returns the locks broken (none when `env` was not
/// locked).
pub fn break_lock(repo: &Path, env: &str, remote: Option<&str>, force: bool) -> Result<Vec<Taken>> {
    let local = local::all_of(repo, env)?;
    let remote_locks = match remote {
        Some(url) => remote::list(repo, url, env)?,
        None => Vec::new(),
    };
    let mut found: Vec<Taken> = local.iter().map(|(_, t)| t.clone()).collect();
    let shown = remote.map(crate::scrub::remote).unwrap_or_default();
    found.extend(remote_locks.iter().map(|r| Taken {
        place: Place::Remote(shown.clone()),
        scope: r.scope,
        holder: r.holder.clone(),
    }));
    if !force {
        if let Some(t) = found
            .iter()
            .find(|t| t.holder.as_ref().and_then(Holder::alive) == Some(true))
        {
            return Err(Diagnostic::new(format!(
                "{}, and that process is still running on this host",
                t.describe(env)
            ))
            .hint("let it finish, or stop it first; --force breaks the lock all the same (two runs then write at once)"));
        }
    }
    if let Some(url) = remote {
        for r in &remote_locks {
            remote::remove(repo, url, env, r.scope, r.oid)?;
        }
    }
    for (path, _) in &local {
        local::remove(path)?;
    }
    Ok(found)
}

/// Who holds the lock of the whole of `env` here, if anyone (`Some(None)`: someone promote
/// cannot name).
pub fn holder(repo: &Path, env: &str) -> Result<Option<Option<Holder>>> {
    local::read(&local::path(repo, &Scope::Whole.name(env)?)?)
}

/// The commit the repository's HEAD is at, if any.
fn head_commit(repo: &Path) -> Option<String> {
    let git = git2::Repository::discover(repo).ok()?;
    let id = git.head().ok()?.peel_to_commit().ok()?.id();
    Some(id.to_string())
}

/// This host's name, as the system says it (`unknown` when it says nothing).
fn host_name() -> String {
    let from_file = |p: &str| {
        crate::files::read_limited(Path::new(p), 256)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
    };
    from_file("/proc/sys/kernel/hostname")
        .or_else(|| from_file("/etc/hostname"))
        .or_else(|| std::env::var("HOSTNAME").ok())
        .or_else(|| std::env::var("COMPUTERNAME").ok())
        .unwrap_or_else(|| "unknown".to_owned())
}

/// Who runs promote (`unknown` when the environment does not say).
fn user_name() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("USERNAME"))
        .unwrap_or_else(|_| "unknown".to_owned())
}

/// Reads a duration as `--lock-timeout` takes it: `0`, `30s`, `5m`, `1h`, `1m30s`, `250ms`
/// (a bare number is seconds).
pub fn parse_duration(text: &str) -> std::result::Result<Duration, String> {
    let bad = || format!("`{text}` is not a duration; write it as 0, 30s, 5m, 1h or 1m30s");
    let text = text.trim();
    if let Ok(secs) = text.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    let mut total = Duration::ZERO;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        let (number, tail) = rest.split_at(digits);
        let n: u64 = number.parse().map_err(|_| bad())?;
        let unit = tail.bytes().take_while(u8::is_ascii_alphabetic).count();
        let (unit, tail) = tail.split_at(unit);
        let part = match unit {
            "ms" => Duration::from_millis(n),
            "s" => Duration::from_secs(n),
            "m" => Duration::from_secs(n.saturating_mul(60)),
            "h" => Duration::from_secs(n.saturating_mul(3600)),
            _ => return Err(bad()),
        };
        total = total.saturating_add(part);
        rest = tail;
    }
    if text.is_empty() {
        return Err(bad());
    }
    Ok(total)
}

#[cfg(test)]
mod tests;

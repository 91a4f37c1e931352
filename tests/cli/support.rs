//! The harness: a configuration repository in a temporary directory, and runs of the real
//! `promote` binary in it.
//!
//! Every test builds a [`TestRepo`] (empty, or a copy of the shipped example), writes the files
//! it needs, and runs the binary through [`TestRepo::run`], which is the only way the tests start
//! it. A run is hermetic: no colour, CI mode, no log filter from the caller's shell, and a home
//! directory that does not exist, so libgit2 in promote does not read the user's git config.
//! The harness's own commits use an explicit signature and time, and local settings that win
//! over the user's. Every run checks that the binary did not panic, whatever the input.
//!
//! For `apply`, `plan` against live and `rollback`: the state ref and backups can be read back,
//! the embedded emulator's data files read and changed between commands, and [`Serve`] runs
//! `promote serve` as a child process for environments whose target is a URL.

use std::collections::BTreeMap;
use std::fmt;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

use serde_json::Value;
use tempfile::TempDir;

/// The source tree of the crate, which holds the shipped example repository.
const MANIFEST_DIR: &str = env!("CARGO_MANIFEST_DIR");

/// The ref where apply records what it applied.
pub const STATE_REF: &str = "refs/promote/state";

/// The data file of tenant `tid` of the embedded emulator of `environments/local.yaml`.
pub fn emulator_file(tid: &str) -> String {
    format!(".promote/emulator/tenants/{tid}.json")
}

/// A configuration repository in a temporary directory, removed when dropped.
pub struct TestRepo {
    dir: TempDir,
}

impl TestRepo {
    /// Returns a repository with no files at all.
    pub fn empty() -> TestRepo {
        let dir = tempfile::Builder::new()
            .prefix("promote-test-")
            .tempdir()
            .unwrap();
        TestRepo { dir }
    }

    /// Returns a copy of the shipped example: `templates/`, `environments/` and `schema/`.
    pub fn example() -> TestRepo {
        let repo = TestRepo::empty();
        for sub in ["templates", "environments", "schema"] {
            copy_dir(&Path::new(MANIFEST_DIR).join(sub), &repo.path().join(sub));
        }
        repo
    }

    /// Returns a git clone of `other` (its committed files and branches; not its work files).
    pub fn clone_of(other: &TestRepo) -> TestRepo {
        let repo = TestRepo::empty();
        git2::Repository::clone(other.path().to_str().unwrap(), repo.path()).unwrap();
        repo
    }

    /// Returns the repository's root directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Returns the absolute path of `rel` in the repository.
    pub fn join(&self, rel: &str) -> PathBuf {
        self.path().join(rel)
    }

    /// Writes `text` to `rel`, creating its directories.
    pub fn write(&self, rel: &str, text: &str) -> &Self {
        self.write_bytes(rel, text.as_bytes())
    }

    /// Writes raw bytes (for files that are not UTF-8) to `rel`, creating its directories.
    pub fn write_bytes(&self, rel: &str, bytes: &[u8]) -> &Self {
        let path = self.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, bytes).unwrap();
        self
    }

    /// Returns the text of `rel`.
    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.join(rel)).unwrap_or_else(|e| panic!("cannot read {rel}: {e}"))
    }

    /// Replaces `from` by `to` in file `rel`; `from` must occur in it.
    pub fn edit(&self, rel: &str, from: &str, to: &str) -> &Self {
        let text = self.read(rel);
        assert!(
            text.contains(from),
            "{rel} does not contain {from:?}:\n{text}"
        );
        self.write(rel, &text.replacen(from, to, 1))
    }

    /// Removes the file or directory `rel`.
    pub fn remove(&self, rel: &str) -> &Self {
        let path = self.join(rel);
        if path.is_dir() {
            std::fs::remove_dir_all(&path).unwrap();
        } else {
            std::fs::remove_file(&path).unwrap_or_else(|e| panic!("cannot remove {rel}: {e}"));
        }
        self
    }

    /// Returns the parsed JSON file `rel`.
    pub fn json(&self, rel: &str) -> Value {
        serde_json::from_str(&self.read(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
    }

    /// Makes the repository a git repository on branch `main`, with local settings that keep
    /// the user's git config out of what gets committed.
    pub fn git_init(&self) -> &Self {
        let mut opts = git2::RepositoryInitOptions::new();
        opts.initial_head("main").external_template(false);
        let repo = git2::Repository::init_opts(self.path(), &opts).unwrap();
        let mut config = repo.config().unwrap();
        // Local settings win over the user's global ones: commit the bytes as they are.
        config.set_bool("core.autocrlf", false).unwrap();
        config.set_str("core.safecrlf", "false").unwrap();
        self
    }

    /// Stages the whole work tree (additions, changes and deletions; not `.promote/`) without
    /// committing, and returns the tree it would commit.
    pub fn stage(&self) -> git2::Oid {
        let repo = self.git();
        let mut index = repo.index().unwrap();
        // Rebuild the index from the work tree: deleted files leave it, and FORCE keeps any
        // ignore rules of the user's config from hiding files.
        index.clear().unwrap();
        // promote's own files (emulator data, backups with credentials) are git-ignored in a
        // real repository; FORCE would take them, and write them to the object database even
        // if they left the index again: they are skipped.
        let mut skip_own =
            |path: &Path, _: &[u8]| -> i32 { i32::from(path.starts_with(".promote")) };
        index
            .add_all(["*"], git2::IndexAddOption::FORCE, Some(&mut skip_own))
            .unwrap();
        index.write().unwrap();
        index.write_tree().unwrap()
    }

    /// `git status` of the work tree and the index: (path, status bits), ignored files left out.
    pub fn git_status(&self) -> Vec<(String, u32)> {
        let repo = self.git();
        let mut options = git2::StatusOptions::new();
        options.include_untracked(true).include_ignored(false);
        let statuses = repo.statuses(Some(&mut options)).unwrap();
        statuses
            .iter()
            .map(|s| (s.path().unwrap_or_default().to_owned(), s.status().bits()))
            .collect()
    }

    /// Commits the whole work tree on HEAD with a fixed author and time, and returns the
    /// commit's ID.
    pub fn commit(&self, message: &str) -> String {
        let parent = self
            .git()
            .head()
            .ok()
            .and_then(|h| h.peel_to_commit().ok())
            .map(|c| c.id().to_string());
        let parents: Vec<&str> = parent.iter().map(String::as_str).collect();
        self.commit_with(message, &parents, true)
    }

    /// Commits the whole work tree with `parents` (two for a merge), moving HEAD only when
    /// `move_head`, and returns the commit's ID.
    pub fn commit_with(&self, message: &str, parents: &[&str], move_head: bool) -> String {
        let tree_id = self.stage();
        let repo = self.git();
        let tree = repo.find_tree(tree_id).unwrap();
        let signature = git2::Signature::new(
            "promote tests",
            "tests@promote.invalid",
            &git2::Time::new(1_700_000_000, 0),
        )
        .unwrap();
        let parents: Vec<git2::Commit> = parents
            .iter()
            .map(|p| repo.find_commit(git2::Oid::from_str(p).unwrap()).unwrap())
            .collect();
        let parents: Vec<&git2::Commit> = parents.iter().collect();
        repo.commit(
            move_head.then_some("HEAD"),
            &signature,
            &signature,
            message,
            &tree,
            &parents,
        )
        .unwrap()
        .to_string()
    }

    /// Moves HEAD, the index and the work tree to `commit` (`git reset --hard COMMIT`), as a
    /// colleague's older checkout or another branch would have them.
    pub fn reset_hard(&self, commit: &str) {
        let repo = self.git();
        let target = repo
            .find_object(git2::Oid::from_str(commit).unwrap(), None)
            .unwrap();
        repo.reset(&target, git2::ResetType::Hard, None).unwrap();
    }

    fn git(&self) -> git2::Repository {
        git2::Repository::open(self.path()).unwrap()
    }

    /// Runs `promote --repo <this repository> ARGS` in this repository and returns how it
    /// went. Panics if the binary panicked.
    pub fn run(&self, args: &[&str]) -> Run {
        self.run_at("", args)
    }

    /// Runs `promote --repo <this repository>/SUB ARGS`, for a configuration repository in a
    /// subdirectory of a git work tree. Panics if the binary panicked.
    pub fn run_at(&self, sub: &str, args: &[&str]) -> Run {
        self.run_full(sub, args, &[])
    }

    /// Runs `promote --repo <this repository> ARGS` with the extra environment variables
    /// `envs` (client credentials, `PROMOTE_SECRET_*`, ...). Panics if the binary panicked.
    pub fn run_env(&self, args: &[&str], envs: &[(&str, &str)]) -> Run {
        self.run_full("", args, envs)
    }

    /// The command that runs `promote --repo <this repository>/SUB ARGS` hermetically: no
    /// colour, CI mode, no log filter or credentials from the caller's shell, no user git config.
    fn command(&self, sub: &str, args: &[&str], envs: &[(&str, &str)]) -> Command {
        let no_home = self.path().join(".no-home");
        let mut command = Command::new(env!("CARGO_BIN_EXE_promote"));
        command
            .arg("--repo")
            .arg(self.path().join(sub))
            .args(args)
            .current_dir(self.path())
            .env("NO_COLOR", "1")
            .env("CI", "true")
            .env_remove("PROMOTE_LOG")
            .env_remove("CLICOLOR_FORCE")
            // libgit2 finds the user's global config through these two.
            .env("HOME", &no_home)
            .env("XDG_CONFIG_HOME", &no_home);
        // Credentials of the caller's shell never reach a test, nor a CI system's settings
        // (`GITHUB_STEP_SUMMARY`); a test passes its own.
        for (key, _) in std::env::vars_os() {
            if key.to_str().is_some_and(|k| {
                k.starts_with("PROMOTE_SECRET_")
                    || k == "PROMOTE_SECRETS_FILE"
                    || k.starts_with("PROMOTE_CLIENT_")
                    || k.starts_with("GITHUB_")
            }) {
                command.env_remove(key);
            }
        }
        command.envs(envs.iter().copied());
        command
    }

    /// Starts `promote --repo <this repository> ARGS` (with `envs`) without waiting for it,
    /// its output discarded: for tests that kill it.
    pub fn spawn(&self, args: &[&str], envs: &[(&str, &str)]) -> Child {
        self.command("", args, envs)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    }

    fn run_full(&self, sub: &str, args: &[&str], envs: &[(&str, &str)]) -> Run {
        let mut command = self.command(sub, args, envs);
        let output = command.output().unwrap();
        let run = Run {
            args: args.iter().map(|a| (*a).to_owned()).collect(),
            // A signal has no exit code; -1 fails every check of a code.
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8(output.stdout).expect("stdout is UTF-8"),
            stderr: String::from_utf8(output.stderr).expect("stderr is UTF-8"),
        };
        assert!(
            !run.stderr.contains("panicked") && run.code != 101 && run.code != -1,
            "promote crashed:\n{run}"
        );
        run
    }

    /// Runs `promote --output json ARGS` (with `envs`) and returns the run and its report.
    pub fn json_run(&self, args: &[&str], envs: &[(&str, &str)]) -> (Run, Value) {
        let mut all = vec!["--output", "json"];
        all.extend_from_slice(args);
        let run = self.run_env(&all, envs);
        let report = run.stdout_json();
        (run, report)
    }

    /// Returns a copy of the shipped example made a git repository with one commit (apply
    /// keeps its state in git), and that commit's ID.
    pub fn example_in_git() -> (TestRepo, String) {
        let repo = TestRepo::example();
        repo.git_init();
        let head = repo.commit("the shipped example");
        (repo, head)
    }

    /// Returns the commits of `refs/promote/state`, newest first, as (ID, message); empty
    /// when the ref does not exist.
    pub fn state_commits(&self) -> Vec<(String, String)> {
        let repo = self.git();
        let Ok(reference) = repo.find_reference(STATE_REF) else {
            return Vec::new();
        };
        let mut walk = repo.revwalk().unwrap();
        walk.push(reference.target().unwrap()).unwrap();
        walk.map(|id| {
            let commit = repo.find_commit(id.unwrap()).unwrap();
            (
                commit.id().to_string(),
                commit.message().unwrap().to_owned(),
            )
        })
        .collect()
    }

    /// Returns every file of the tip of `refs/promote/state`, by path, parsed.
    pub fn state_files(&self) -> BTreeMap<String, Value> {
        let repo = self.git();
        let tree = repo
            .find_reference(STATE_REF)
            .unwrap_or_else(|_| panic!("there is no {STATE_REF}"))
            .peel_to_tree()
            .unwrap();
        let mut out = BTreeMap::new();
        tree.walk(git2::TreeWalkMode::PreOrder, |dir, entry| {
            if let Ok(blob) = entry.to_object(&repo).and_then(|o| o.peel_to_blob()) {
                let path = format!("{dir}{}", entry.name().unwrap());
                let value = serde_json::from_slice(blob.content())
                    .unwrap_or_else(|e| panic!("{STATE_REF}:{path}: {e}"));
                out.insert(path, value);
            }
            git2::TreeWalkResult::Ok
        })
        .unwrap();
        out
    }

    /// Returns the text of every blob of every commit of `refs/promote/state`, with its path.
    pub fn state_blobs(&self) -> Vec<(String, String)> {
        let repo = self.git();
        let mut out = Vec::new();
        for (id, _) in self.state_commits() {
            let commit = repo.find_commit(git2::Oid::from_str(&id).unwrap()).unwrap();
            commit
                .tree()
                .unwrap()
                .walk(git2::TreeWalkMode::PreOrder, |dir, entry| {
                    if let Ok(blob) = entry.to_object(&repo).and_then(|o| o.peel_to_blob()) {
                        out.push((
                            format!("{id}:{dir}{}", entry.name().unwrap()),
                            String::from_utf8_lossy(blob.content()).into_owned(),
                        ));
                    }
                    git2::TreeWalkResult::Ok
                })
                .unwrap();
        }
        out
    }

    /// Returns the embedded emulator's stored tree of tenant `tid` (with its credentials).
    pub fn emulator_tenant(&self, tid: &str) -> Value {
        self.json(&emulator_file(tid))
    }

    /// Returns the raw bytes of the embedded emulator's data file of tenant `tid`.
    pub fn emulator_bytes(&self, tid: &str) -> Vec<u8> {
        std::fs::read(self.join(&emulator_file(tid))).unwrap()
    }

    /// Changes the embedded emulator's stored tree of tenant `tid` behind promote's back (the
    /// emulator loads it when the next command starts it).
    pub fn edit_emulator_tenant(&self, tid: &str, change: impl FnOnce(&mut Value)) {
        let mut tree = self.emulator_tenant(tid);
        change(&mut tree);
        self.write(
            &emulator_file(tid),
            &serde_json::to_string_pretty(&tree).unwrap(),
        );
    }

    /// Returns the backups apply saved for tenant `key` of `env` (`<timestamp>.json`), oldest
    /// first.
    pub fn backups(&self, env: &str, key: &str) -> Vec<PathBuf> {
        let dir = self.join(&format!(".promote/backups/{env}/{key}"));
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return Vec::new();
        };
        // As rollback lists them: a write killed midway can leave a `.tmp*` file, never a
        // `.json` one (backups are written to a temporary file, then renamed).
        let mut out: Vec<PathBuf> = entries
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        out.sort();
        out
    }

    /// Returns `text` with this repository's path replaced by `[REPO]`, for snapshots.
    pub fn normalize(&self, text: &str) -> String {
        let mut out = text.to_owned();
        let canonical = self.path().canonicalize().unwrap();
        for path in [canonical.as_path(), self.path()] {
            out = out.replace(path.to_str().unwrap(), "[REPO]");
        }
        out
    }

    /// Returns a whole run as one text (exit code, stdout, stderr), normalized, for snapshots.
    pub fn snapshot(&self, run: &Run) -> String {
        self.normalize(&format!(
            "exit: {}\n----- stdout -----\n{}----- stderr -----\n{}",
            run.code, run.stdout, run.stderr
        ))
    }
}

/// How one run of the binary went.
pub struct Run {
    pub args: Vec<String>,
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Asserts exit code 0.
    pub fn success(&self) -> &Self {
        self.code(0)
    }

    /// Asserts exit code `code`.
    pub fn code(&self, code: i32) -> &Self {
        assert_eq!(self.code, code, "unexpected exit code:\n{self}");
        self
    }

    /// Asserts that stderr contains `text`.
    pub fn stderr_contains(&self, text: &str) -> &Self {
        assert!(
            self.stderr.contains(text),
            "stderr does not contain {text:?}:\n{self}"
        );
        self
    }

    /// Asserts that stdout contains `text`.
    pub fn stdout_contains(&self, text: &str) -> &Self {
        assert!(
            self.stdout.contains(text),
            "stdout does not contain {text:?}:\n{self}"
        );
        self
    }

    /// Asserts that stdout or stderr contains `text` (a text report puts each tenant's errors
    /// on stdout, with the report).
    pub fn shows(&self, text: &str) -> &Self {
        assert!(
            self.stdout.contains(text) || self.stderr.contains(text),
            "the output does not show {text:?}:\n{self}"
        );
        self
    }

    /// Asserts that neither stdout nor stderr contains `text`.
    pub fn never_shows(&self, text: &str) -> &Self {
        assert!(
            !self.stdout.contains(text) && !self.stderr.contains(text),
            "the output shows {text:?}:\n{self}"
        );
        self
    }

    /// Returns stdout parsed as one JSON document.
    pub fn stdout_json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{self}"))
    }
}

impl fmt::Display for Run {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "promote {}", self.args.join(" "))?;
        writeln!(f, "exit: {}", self.code)?;
        writeln!(f, "----- stdout -----\n{}", self.stdout)?;
        write!(f, "----- stderr -----\n{}", self.stderr)
    }
}

/// Copies the directory tree `from` to `to`.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Returns every string in `tree` at any depth, with the JSON pointer of each.
pub fn strings(tree: &Value) -> Vec<(String, &str)> {
    fn walk<'a>(value: &'a Value, at: String, out: &mut Vec<(String, &'a str)>) {
        match value {
            Value::String(s) => out.push((at, s)),
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    walk(item, format!("{at}/{i}"), out);
                }
            }
            Value::Object(map) => {
                for (key, item) in map {
                    let key = key.replace('~', "~0").replace('/', "~1");
                    walk(item, format!("{at}/{key}"), out);
                }
            }
            Value::Null | Value::Bool(_) | Value::Number(_) => {}
        }
    }
    let mut out = Vec::new();
    walk(tree, String::new(), &mut out);
    out
}

/// `promote serve` running as a child process on an ephemeral loopback port, stopped (killed)
/// when dropped. Its clients come from `PROMOTE_SERVE_CLIENTS`, as the README recommends.
pub struct Serve {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    pub port: u16,
    log: Arc<Mutex<String>>,
}

impl Serve {
    /// Starts `promote serve --listen 127.0.0.1:0 ARGS` with `clients`
    /// (`TENANT:ID:SECRET,...`), and waits until it listens.
    pub fn start(clients: &str, args: &[&str]) -> Serve {
        let mut child = Command::new(env!("CARGO_BIN_EXE_promote"))
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(args)
            .env("PROMOTE_SERVE_CLIENTS", clients)
            .env("NO_COLOR", "1")
            .env_remove("PROMOTE_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        let mut first = String::new();
        stderr.read_line(&mut first).unwrap();
        let port = first
            .strip_prefix("promote serve: listening on http://127.0.0.1:")
            .and_then(|rest| rest.split(' ').next())
            .and_then(|p| p.parse::<u16>().ok());
        let Some(port) = port else {
            let _ = child.kill();
            let mut rest = String::new();
            let _ = stderr.read_to_string(&mut rest);
            panic!("promote serve did not start:\n{first}{rest}");
        };
        // Keep reading its log, so that a full pipe never blocks it; kept for messages.
        let log = Arc::new(Mutex::new(first));
        let sink = log.clone();
        std::thread::spawn(move || {
            let mut line = String::new();
            while stderr.read_line(&mut line).is_ok_and(|n| n > 0) {
                sink.lock().unwrap().push_str(&line);
                line.clear();
            }
        });
        Serve {
            child,
            url: format!("http://127.0.0.1:{port}"),
            port,
            log,
        }
    }

    /// Everything it wrote to stderr so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Per tenant ID, how many writes changed the stored tenant so far (the log's
    /// `changed=true` lines; a retried write that changed nothing is not counted).
    pub fn changing_writes(&self) -> BTreeMap<String, usize> {
        let mut out = BTreeMap::new();
        for line in self.log().lines().filter(|l| l.contains("changed=true")) {
            if let Some(tid) = line
                .split("path=\"/api/hub/")
                .nth(1)
                .and_then(|p| p.split('/').next())
            {
                *out.entry(tid.to_owned()).or_default() += 1;
            }
        }
        out
    }

    /// Exports tenant `tid` through the API with client `id`/`secret`, retrying what injected
    /// faults refuse.
    pub fn export(&self, tid: &str, id: &str, secret: &str, with_credentials: bool) -> Value {
        let once = || -> Result<Value, ureq::Error> {
            let token: Value = ureq::post(format!("{}/{tid}/system/oauth2/token", self.url))
                .send_form([
                    ("grant_type", "client_credentials"),
                    ("client_id", id),
                    ("client_secret", secret),
                ])?
                .body_mut()
                .read_json()?;
            let token = token["access_token"].as_str().unwrap_or_default();
            ureq::get(format!(
                "{}/api/hub/{tid}/promote/config?with_credentials={with_credentials}",
                self.url
            ))
            .header("Authorization", format!("Bearer {token}"))
            .call()?
            .body_mut()
            .read_json()
        };
        let mut last = None;
        for _ in 0..50 {
            match once() {
                Ok(tree) => return tree,
                Err(e) => last = Some(e),
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        panic!("cannot export {tid}: {last:?}\n{}", self.log());
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Returns the tenant entry `key` of a JSON plan or apply report.
pub fn report_tenant<'a>(report: &'a Value, key: &str) -> &'a Value {
    report["tenants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["key"] == key)
        .unwrap_or_else(|| panic!("no tenant {key} in {report}"))
}

/// Returns `(key, outcome)` of every tenant of a JSON apply report, in report order.
pub fn outcomes(report: &Value) -> Vec<(String, String)> {
    report["tenants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["key"].as_str().unwrap().to_owned(),
                t["outcome"].as_str().unwrap_or("(none)").to_owned(),
            )
        })
        .collect()
}

/// Builds `[(key, value)]` pairs of owned strings, for comparisons.
pub fn owned_pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect()
}

/// Returns the JSON pointers where `a` and `b` differ (at most 20), for short messages.
pub fn differences(a: &Value, b: &Value) -> Vec<String> {
    fn walk(a: &Value, b: &Value, at: String, out: &mut Vec<String>) {
        if out.len() >= 20 {
            return;
        }
        match (a, b) {
            (Value::Object(x), Value::Object(y)) => {
                let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
                for k in keys {
                    let here = format!("{at}/{}", k.replace('~', "~0").replace('/', "~1"));
                    match (x.get(k), y.get(k)) {
                        (Some(v), Some(w)) => walk(v, w, here, out),
                        (Some(_), None) => out.push(format!("{here} (only left)")),
                        _ => out.push(format!("{here} (only right)")),
                    }
                }
            }
            _ if a != b => out.push(at),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(a, b, String::new(), &mut out);
    out
}
